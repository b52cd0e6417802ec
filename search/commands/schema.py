"""`gru-search schema`: print the spec's JSON Schema, for an editor to complete and check specs."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Save it (gru-search schema > gru-search.schema.json) and start a spec with "
        "`# yaml-language-server: $schema=gru-search.schema.json`."
    )


def run(args: argparse.Namespace) -> int:
    from search.spec.schema import spec_schema

    print(json.dumps(spec_schema(), indent=2))
    return 0
