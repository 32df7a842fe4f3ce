#!/usr/bin/env python
"""Render the paper's Tables 1-5 from a results directory as Markdown, the paper's numbers beside ours.

    python scripts/make_tables.py RESULTS_DIR [--out tables.md] [--tables 145] [--checks [--strict]]

--checks appends the qualitative checks (CHECK <name>: PASS|FAIL (<figures>)); --strict then exits 3
when one fails. Plot links are relative to the --out file's folder (or to the current folder).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for emotion_reproduce

from emotion_reproduce.tables import check_lines, checks, render  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, help="also write the Markdown to this file")
    p.add_argument("--tables", default="12345", help="which tables, e.g. 145 (default: all)")
    p.add_argument("--checks", action="store_true", help="append the CHECK lines (from Table 1's runs)")
    p.add_argument("--strict", action="store_true", help="with --checks: exit 3 when a check fails")
    args = p.parse_args(argv)

    assert args.results_dir.is_dir(), f"{args.results_dir} is not a directory"
    link_root = args.out.resolve().parent if args.out else Path.cwd()
    text = render(args.results_dir, args.tables, link_root)
    failed, section = False, ""
    if args.checks:
        found = checks(args.results_dir)
        failed = not all(ok for _, ok, _ in found)
        section = "\n## Qualitative checks\n\n```\n" + "\n".join(check_lines(found)) + "\n```\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + section)
    print(text)
    if args.checks:  # the CHECK lines last, as the demo's closing lines
        print("\n".join(check_lines(found)))
    return 3 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
