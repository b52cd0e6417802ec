"""`gru-search pull NAME[@ALIAS|/VERSION] -o DIR [--format keras|savedmodel|onnx]`."""

from __future__ import annotations

from search.commands import add_store_arguments, open_store
from search.errors import GruSearchError

# What each format writes into DIR besides metadata.json (search.registry.FORMATS).
WRITTEN = {
    "keras": "model.keras and code/ (the cells package its layers need)",
    "savedmodel": "savedmodel/ (a TensorFlow SavedModel: tf.saved_model.load, no Keras needed)",
    "onnx": "model.onnx",
}


def add_arguments(parser) -> None:
    parser.add_argument(
        "model",
        nargs="?",
        help="NAME (alias champion), NAME@ALIAS or NAME/VERSION (default with --spec: the spec's "
        "tracking.registered_model@champion)",
    )
    parser.add_argument(
        "-o", "--output", required=True, help="folder to write the model and metadata.json into"
    )
    parser.add_argument(
        "--format",
        choices=tuple(WRITTEN),
        default="keras",
        help="keras: model.keras (default); savedmodel: a TensorFlow SavedModel; onnx: model.onnx "
        "(needs tf2onnx)",
    )
    add_store_arguments(parser)


def run(args) -> int:
    from search.registry import CHAMPION, pull

    tracker, spec = open_store(args)
    model = args.model or (f"{spec.tracking.registered_model}@{CHAMPION}" if spec else None)
    if model is None:
        raise GruSearchError(
            "Name the model to pull (NAME, NAME@ALIAS or NAME/VERSION), or pass --spec SPEC."
        )
    pulled = pull(tracker, model, args.output, args.format)
    print(
        f"pulled {pulled.ref} (version {pulled.version}) into {args.output}: "
        f"{WRITTEN[args.format]}, metadata.json"
    )
    return 0
