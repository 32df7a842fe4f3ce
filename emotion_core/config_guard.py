"""Configuration strings that fairseq passes to ``eval``, checked before fairseq sees them.

fairseq builds some modules from configuration strings with ``eval`` (a convolution stack
``"[(512, 10, 5)] + [(512, 3, 2)] * 4"``, an attention config ``"{...}"``, Adam's betas
``"(0.9, 0.98)"`` ...). Such a string inside a checkpoint runs as code when the model is built,
even under ``torch.load(weights_only=True)``: a string is plain data to the unpickler.
:data:`EVAL_FIELDS` lists every field that fairseq 0.12 evaluates (``tests/test_config_guard.py``
scans the installed fairseq for them), and :func:`unsafe_fields` walks a checkpoint's contents
(dicts, argparse Namespaces, lists; at any depth, e.g. ``cfg.model.w2v_args.model``) and reports
every such field whose value is not a literal of the expected shape (:mod:`emotion_core.literals`).

>>> unsafe_fields({"cfg": {"model": {"conv_feature_layers": "[(512, 10, 5)] * 2"}}})
[]
>>> unsafe_fields({"args": {"encoder_xformers_att_config": "__import__('os')"}})[0][0]
'args.encoder_xformers_att_config'
"""
from argparse import Namespace
from numbers import Number

from emotion_core.literals import LiteralError, parse_literal


def _ints(value, n=None, low=1):
    return (isinstance(value, (list, tuple)) and (n is None or len(value) in n)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value))


def conv_layers(value):
    """A list of (channels, kernel, stride) int triples, as wav2vec's feature extractor takes."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(_ints(layer, (3,)) for layer in value)


def fconv_layers(value):
    """A list of (channels, kernel) or (channels, kernel, residual) int tuples, as fconv takes."""
    return isinstance(value, (list, tuple)) and all(_ints(layer, (2, 3), low=0) for layer in value)


def char_filters(value):
    """A list of (width, channels) int pairs (character CNN of the LM input)."""
    return isinstance(value, (list, tuple)) and all(_ints(layer, (2,)) for layer in value)


def number_pair(value):
    """Two numbers, e.g. Adam's betas."""
    return (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, Number) and not isinstance(v, bool) for v in value))


def int_or_ints(value):
    """An int or a list of ints (adaptive-softmax cutoffs, pipeline balance and devices)."""
    return _ints([value] if isinstance(value, int) else value, low=0)


def flag_or_flags(value):
    """A bool or int, or a list of them (fconv attention switches, eval_bool fields)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, (bool, int)) for v in items)


def string_dict(value):
    """A dict with string keys (xformers attention config, multilingual options)."""
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def any_literal(value):
    """Any literal value (the parser already refused everything else)."""
    return True


def maybe(shape):
    """``shape`` or None (fields whose unset value is the string ``"None"``)."""
    def check(value):
        return value is None or shape(value)
    check.__doc__ = f"None, or {shape.__doc__[0].lower()}{shape.__doc__[1:]}"
    return check


# field name: expected shape. Where fairseq 0.12.2 evaluates each: docs/security.md.
EVAL_FIELDS = {
    # wav2vec / vq-wav2vec, wav2vec 2.0, HuBERT, data2vec audio, s2t_wav_transformer
    "conv_feature_layers": conv_layers,
    "conv_aggregator_layers": conv_layers,
    "feature_encoder_spec": maybe(conv_layers),
    # multihead attention of every transformer (RoBERTa, Speech-BERT, ...), through utils.eval_str_dict
    "xformers_att_config": maybe(string_dict),
    "encoder_xformers_att_config": maybe(string_dict),
    "decoder_xformers_att_config": maybe(string_dict),
    # optimizers
    "adam_betas": number_pair, "adamax_betas": number_pair, "lamb_betas": number_pair,
    "adafactor_eps": number_pair,
    # criterion ctc
    "wer_args": maybe(any_literal),
    # language models and fconv / lstm models
    "character_filters": char_filters,
    "encoder_layers": fconv_layers, "decoder_layers": fconv_layers,  # strings only in fconv (ints elsewhere)
    "encoder_attention": flag_or_flags, "decoder_attention": flag_or_flags, "self_attention": flag_or_flags,
    "project_input": flag_or_flags, "gated_attention": flag_or_flags, "downsample": flag_or_flags,
    "pretrained": flag_or_flags,
    "adaptive_softmax_cutoff": maybe(int_or_ints), "adaptive_input_cutoff": maybe(int_or_ints),
    "pipeline_balance": maybe(int_or_ints), "pipeline_devices": maybe(int_or_ints),
    "pipeline_encoder_balance": maybe(int_or_ints), "pipeline_encoder_devices": maybe(int_or_ints),
    "pipeline_decoder_balance": maybe(int_or_ints), "pipeline_decoder_devices": maybe(int_or_ints),
    # utils.eval_bool
    "left_pad_source": flag_or_flags, "left_pad_target": flag_or_flags, "encoder_glu": flag_or_flags,
    "decoder_glu": flag_or_flags, "weight_softmax": flag_or_flags, "decoder_zero_init": flag_or_flags,
    # multilingual translation options, through utils.eval_str_dict
    "extra_data": maybe(string_dict), "extra_lang_pairs": maybe(string_dict), "langtoks": maybe(string_dict),
    "sampling_weights": maybe(string_dict),
    # examples shipped inside the fairseq package (speech_recognition's vggtransformer, rerankers)
    "vggblock_enc_config": any_literal, "transformer_enc_config": any_literal, "transformer_dec_config": any_literal,
    "conv_dec_config": any_literal, "transformer_context": any_literal, "transformer_sampling": any_literal,
    "model_overrides": maybe(string_dict),
}


def check_value(name, value):
    """None when fairseq may evaluate ``value`` of field ``name``; else the reason it is refused."""
    if isinstance(value, (bytes, bytearray)):
        return "a bytes value, which fairseq would evaluate as code"
    if not isinstance(value, str):
        return None  # fairseq evaluates strings only (a list or a number is used as it is)
    try:
        parsed = parse_literal(value)
    except LiteralError as err:
        return f"{err}: {_preview(value)}"
    if not EVAL_FIELDS[name](parsed):
        return f"expected {EVAL_FIELDS[name].__doc__[0].lower()}{EVAL_FIELDS[name].__doc__[1:-1]}, got {_preview(value)}"
    return None


def _preview(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def unsafe_fields(tree, root=""):
    """``[(dotted path, reason)]`` of every field of :data:`EVAL_FIELDS` in ``tree`` that fairseq must not evaluate.

    ``tree`` is a checkpoint's content: dicts, argparse Namespaces, lists and tuples, nested at any
    depth (walked iteratively; shared or cyclic references are visited once).
    """
    found, seen, stack = [], set(), [(root, tree)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, Namespace):
            node = vars(node)
        if not isinstance(node, (dict, list, tuple)) or id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and key in EVAL_FIELDS:
                reason = check_value(key, value)
                if reason:
                    found.append((child, reason))
            stack.append((child, value))
    return sorted(found)
