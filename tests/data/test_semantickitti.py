"""SemanticKITTI format: learning_map against the official yaml, file checks, the real scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semseg.cli import main
from semseg.data import semantickitti as kitti
from semseg.errors import DatasetLayoutError, InputFileError, LabelError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "data" / "semantickitti-sample"
SCAN = SAMPLE / "sequences" / "00" / "velodyne" / "000000.bin"
LABEL = SAMPLE / "sequences" / "00" / "labels" / "000000.label"


@pytest.fixture(scope="session")
def kitti_sample() -> Path:
    """The real scan 00/000000 beside the repository; skips the test when absent."""
    if not SCAN.is_file():
        pytest.skip(f"SemanticKITTI sample not found at {SAMPLE}")
    return SAMPLE


def write_scan(root: Path, seq: str, stem: str, points: np.ndarray,
               raw_labels: np.ndarray | None = None, instance: int = 7) -> Path:
    """An official-layout scan (float32 x, y, z, remission) and label (instance << 16 | sem)."""
    velodyne, labels = root / "sequences" / seq / "velodyne", root / "sequences" / seq / "labels"
    velodyne.mkdir(parents=True, exist_ok=True)
    np.asarray(points, "<f4").tofile(velodyne / f"{stem}.bin")
    if raw_labels is not None:
        labels.mkdir(parents=True, exist_ok=True)
        ((instance << 16) | np.asarray(raw_labels, np.uint32)).astype("<u4").tofile(
            labels / f"{stem}.label")
    return velodyne / f"{stem}.bin"


POINTS = np.array([[10, 0, 0, 0.5], [0, 10, 0, 0.1], [-5, 0, -1, 0.9]], np.float32)


def test_learning_map_hand_checked_rows() -> None:
    # semantic-kitti.yaml: 10 car, 252 moving-car -> car; 60 lane-marking -> road; 81 sign;
    # 0 unlabelled, 1 outlier, 52 other-structure, 99 other-object -> ignored
    raw = np.array([0, 1, 10, 252, 40, 60, 81, 99, 52, 255, 259, 13])
    expected = [255, 255, 0, 0, 8, 8, 18, 255, 255, 7, 4, 4]
    assert kitti.encode(raw, "x").tolist() == expected
    assert kitti.decode(np.array([0, 8, 18, 7, 255])).tolist() == [10, 40, 81, 32, 0]
    static = np.array(sorted(kitti.LEARNING_MAP_INV.values())[1:])  # one raw id per class
    assert (kitti.decode(kitti.encode(static, "x")) == static).all()


def test_palette_is_the_yaml_colour_map_as_rgb() -> None:
    assert kitti.INFO.palette[kitti.CLASSES.index("car")] == (100, 150, 245)  # BGR 245,150,100
    assert kitti.INFO.palette[kitti.CLASSES.index("building")] == (255, 200, 0)
    assert kitti.INFO.num_classes == 19 and len(kitti.INFO.mean) == 5


def test_class_weights_from_content() -> None:
    freq = kitti.class_frequencies()
    car = kitti.CONTENT[10] + kitti.CONTENT[252]  # car and moving-car
    road = kitti.CONTENT[40] + kitti.CONTENT[60]  # road and lane-marking
    assert freq[0] == pytest.approx(car) and freq[8] == pytest.approx(road)
    ignored = sum(kitti.CONTENT[r] for r in (0, 1, 52, 99))
    assert freq.sum() + ignored == pytest.approx(sum(kitti.CONTENT.values()), abs=1e-12)
    assert sum(kitti.CONTENT.values()) == pytest.approx(1.0, abs=2e-6)  # the yaml's rounding
    assert kitti.class_weights()[0] == pytest.approx(1 / (car + 0.001))


def test_truncated_scan_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(POINTS.tobytes()[:-3])
    with pytest.raises(InputFileError, match=r"bad.bin: 45 bytes is not a whole number"):
        kitti.read_scan(path)


def test_label_count_and_unknown_ids(tmp_path: Path) -> None:
    bin_ = write_scan(tmp_path, "00", "000000", POINTS, [40, 40])
    label = tmp_path / "sequences/00/labels/000000.label"
    with pytest.raises(InputFileError, match="2 labels but its scan has 3 points"):
        kitti.read_labelled(kitti.ScanFile(bin_, label))
    write_scan(tmp_path, "00", "000000", POINTS, [40, 5, 40])  # 5 is not a SemanticKITTI id
    with pytest.raises(LabelError, match=r"000000.label: label values 5 outside"):
        kitti.read_labelled(kitti.ScanFile(bin_, label))
    write_scan(tmp_path, "00", "000000", POINTS, [40, 10, 0])
    points, ids = kitti.read_labelled(kitti.ScanFile(bin_, label))  # instance bits dropped
    assert ids.tolist() == [8, 0, 255] and points.shape == (3, 4)


def test_splits_follow_the_benchmark_sequences(tmp_path: Path) -> None:
    write_scan(tmp_path, "00", "000000", POINTS, [40, 40, 40])
    write_scan(tmp_path, "08", "000000", POINTS, [50, 50, 50])
    write_scan(tmp_path, "08", "000001", POINTS)  # val scan without labels: a problem
    write_scan(tmp_path, "11", "000000", POINTS)  # test: no labels expected
    found = {s.split: s for s in kitti.splits(tmp_path)}
    assert set(found) == {"train", "val", "test"}
    assert [s.scan.name for s in found["train"].scans] == ["000000.bin"]
    assert found["val"].problems and "000001.label: label file not found" in \
        found["val"].problems[0]
    assert found["test"].scans[0].label is None and not found["test"].problems
    with pytest.raises(DatasetLayoutError, match=r"000001\.label"):
        kitti.split_scans(tmp_path, "val")
    with pytest.raises(DatasetLayoutError, match="sequences: folder not found"):
        kitti.splits(tmp_path / "nothing")


def test_real_scan_class_histogram(kitti_sample: Path) -> None:
    points, ids = kitti.read_labelled(kitti.ScanFile(SCAN, LABEL))
    assert points.shape == (124_668, 4) and points.dtype == np.float32
    # After learning_map (counted independently in the research notes): 4,886 ignored points.
    counts = dict(zip(*np.unique(ids, return_counts=True), strict=True))
    assert counts == {0: 4234, 7: 88, 8: 35281, 9: 3268, 10: 26360, 12: 18268, 13: 370,
                      14: 27123, 15: 1192, 16: 2964, 17: 532, 18: 102, 255: 4886}


def test_datasets_verify_and_info_cli(kitti_sample: Path, tmp_path: Path, capsys) -> None:
    assert main(["datasets", "verify", str(kitti_sample), "--format", "semantickitti"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "train: 1 scans, 1 ok, 124,668 points, 4,886 ignored" in out
    assert "no problems found" in out
    write_scan(tmp_path, "00", "000000", POINTS, [40, 40])
    assert main(["datasets", "verify", str(tmp_path), "--format", "semantickitti"]) == 2
    captured = capsys.readouterr()
    assert "2 labels but its scan has 3 points" in captured.out
    assert captured.err.strip() == f"semseg datasets: error: 1 problem(s) found in {tmp_path}"
    assert main(["datasets", "info", "semantickitti"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ROOT/sequences/NN/velodyne" in out and "semantickitti: 19 classes" in out
    assert "traffic-sign" in out
