"""Record reference outputs of the original TensorFlow musicnn models (writes musicnn_reference.json).

Run ONCE, outside the project's environment, in a throwaway venv with TensorFlow 1-compatible layers:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu==2.15.1
    cp -r .venv/lib/python3.11/site-packages/musicnn /tmp/musicnn_pkg/   # the package's own models.py + weights
    /tmp/tfvenv/bin/python tests/data/musicnn_make_reference.py /tmp/musicnn_pkg

It builds the graph with the package's own `musicnn.models.define_model`, restores the packaged checkpoint
with `tf.compat.v1.train.Saver` (as `musicnn.extractor` does) and evaluates it with `is_training=False` on
the fixed inputs of `reference_inputs()` (the test rebuilds the same inputs with numpy).
"""

import json
import os
import sys

import numpy as np

N_FRAMES, N_MELS = 187, 96


def reference_inputs() -> np.ndarray:
    """Two fixed log-mel patches (2, 187, 96): seeded uniform noise in [0, 4) and a smooth periodic pattern."""
    noise = np.random.default_rng(0).uniform(0.0, 4.0, size=(N_FRAMES, N_MELS))
    t, f = np.meshgrid(np.arange(N_FRAMES), np.arange(N_MELS), indexing="ij")
    pattern = 2.0 + 1.5 * np.sin(0.07 * t * (1 + f % 5)) * np.cos(0.3 * f) * np.exp(-f / 60.0)
    return np.stack([noise, pattern]).astype(np.float32)


def main(package_root: str) -> None:
    sys.path.insert(0, package_root)
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    inputs = reference_inputs()
    result = {
        "method": "TensorFlow " + tf.__version__ + " running musicnn.models.define_model with the packaged "
        "checkpoint (tests/data/musicnn_make_reference.py)",
        "inputs": "reference_inputs() in tests/data/musicnn_make_reference.py",
        "models": {},
    }
    for name in ("MTT_musicnn", "MSD_musicnn"):
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            logits, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, is_training, name, 50)
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, os.path.join(package_root, "musicnn", name) + "/")
            out = sess.run([logits, penultimate, mean_pool, max_pool], feed_dict={x: inputs, is_training: False})
        result["models"][name] = {
            key: [[float(f"{v:.8g}") for v in row] for row in value]
            for key, value in zip(("logits", "penultimate", "mean_pool", "max_pool"), out)
        }
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "musicnn_reference.json")
    with open(out_path, "w") as f:
        json.dump(result, f)
    print("wrote", out_path)


if __name__ == "__main__":
    main(sys.argv[1])
