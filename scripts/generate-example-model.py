#!/usr/bin/env python3
"""Writes the example model in examples/model, in the workshop's layout:

    1/model.onnx               a tiny ONNX graph: song features -> popularity (logistic regression)
    artifacts/scaler.pkl       the feature scaler the serving code applies first
    artifacts/features.pkl     the feature names, in input order

Run from the repository root:  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx &&
/tmp/venv/bin/python scripts/generate-example-model.py examples/model
Everything written is deterministic: running it again gives the same bytes.
"""

import os
import pickle
import sys

import onnx
from onnx import TensorProto, helper

FEATURES = [
    "is_explicit", "duration_ms", "danceability", "energy", "key", "loudness",
    "mode", "speechiness", "acousticness", "instrumentalness", "liveness",
    "valence", "tempo",
]
WEIGHTS = [0.12, -0.03, 0.85, 0.41, 0.01, 0.22, 0.05, -0.31, -0.18, -0.44, -0.09, 0.27, 0.02]
BIAS = -0.35
MEANS = [0.3, 210000.0, 0.62, 0.64, 5.2, -7.1, 0.6, 0.09, 0.27, 0.06, 0.18, 0.5, 121.0]
SCALES = [0.46, 60000.0, 0.16, 0.2, 3.6, 3.4, 0.49, 0.09, 0.28, 0.2, 0.14, 0.24, 29.0]


def model() -> onnx.ModelProto:
    n = len(FEATURES)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", ["dense_input", "weights"], ["logits_raw"]),
            helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["popularity"]),
        ],
        name="jukebox",
        inputs=[helper.make_tensor_value_info("dense_input", TensorProto.FLOAT, ["batch", n])],
        outputs=[helper.make_tensor_value_info("popularity", TensorProto.FLOAT, ["batch", 1])],
        initializer=[
            helper.make_tensor("weights", TensorProto.FLOAT, [n, 1], WEIGHTS),
            helper.make_tensor("bias", TensorProto.FLOAT, [1], [BIAS]),
        ],
    )
    built = helper.make_model(
        graph,
        producer_name="modelcar-gitops example",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    built.ir_version = 8
    onnx.checker.check_model(built)
    return built


def main(out: str) -> None:
    os.makedirs(os.path.join(out, "1"), exist_ok=True)
    os.makedirs(os.path.join(out, "artifacts"), exist_ok=True)
    onnx.save(model(), os.path.join(out, "1", "model.onnx"))
    with open(os.path.join(out, "artifacts", "scaler.pkl"), "wb") as f:
        pickle.dump({"mean": MEANS, "scale": SCALES}, f, protocol=4)
    with open(os.path.join(out, "artifacts", "features.pkl"), "wb") as f:
        pickle.dump(FEATURES, f, protocol=4)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/model")
