"""List the plugin's options in ``fairseq-train --task multimodal_emotion --help``.

fairseq's CLIs answer ``--help`` on their first parse, before the selected task, model and
criterion have added their options, so the plugin's options would never be listed. When the
command line asks for help and names a plugin component, :func:`install` adds that component's
dataclass options to the help text of fairseq's parser (and changes nothing else).
"""
import argparse
import sys

from fairseq.dataclass.utils import gen_parser_from_dataclass


def _named_components(argv):
    """(title, dataclass) of each plugin component named on the command line."""
    from fairseq.criterions import CRITERION_DATACLASS_REGISTRY
    from fairseq.models import ARCH_MODEL_NAME_REGISTRY, MODEL_DATACLASS_REGISTRY
    from fairseq.tasks import TASK_DATACLASS_REGISTRY

    def value(flag):
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None

    found = []
    if value("--task") == "multimodal_emotion":
        found.append(("task multimodal_emotion", TASK_DATACLASS_REGISTRY["multimodal_emotion"]))
    if value("--criterion") == "multimodal_emotion":
        found.append(("criterion multimodal_emotion", CRITERION_DATACLASS_REGISTRY["multimodal_emotion"]))
    if ARCH_MODEL_NAME_REGISTRY.get(value("--arch")) == "ssl_emotion":
        found.append(("model ssl_emotion", MODEL_DATACLASS_REGISTRY["ssl_emotion"]))
    return found


def install(argv=None):
    """Make ``--help`` of fairseq's parser list the options of the plugin components in ``argv``."""
    argv = sys.argv[1:] if argv is None else argv
    if not {"-h", "--help"} & set(argv):
        return
    plain_format_help = argparse.ArgumentParser.format_help

    def format_help(parser):
        is_fairseq_parser = any(action.dest == "task" for action in parser._actions)
        if is_fairseq_parser and not getattr(parser, "_emotion_options_listed", False):
            parser._emotion_options_listed = True
            for title, dataclass in _named_components(argv):
                gen_parser_from_dataclass(parser.add_argument_group(f"{title} (plugin)"), dataclass())
        return plain_format_help(parser)

    argparse.ArgumentParser.format_help = format_help
