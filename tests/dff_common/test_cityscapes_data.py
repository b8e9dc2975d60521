"""The Cityscapes video layout reader and the synthetic set written in that layout."""

import cv2
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label

from dff_common.data.cityscapes import (
    ANNOTATED_INDEX,
    SNIPPET_LENGTH,
    check_frames_exist,
    check_label_ids,
    frame_path,
    list_annotated_frames,
    read_image,
    read_label,
)
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes

SIZE = dict(height=32, width=64)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    written = make_synthetic_cityscapes(root, {"train": 4, "val": 1, "test": 1}, seed=3, **SIZE)
    return root, written


def test_layout_is_the_real_one(synthetic):
    root, written = synthetic
    train = written["train"]
    # 4 snippets over 3 cities: aachen gets two, in one sequence at frames 19 and 59
    assert [a.name for a in train] == [
        "aachen_000000_000019",
        "aachen_000000_000059",
        "bochum_000000_000019",
        "zurich_000000_000019",
    ]
    for annotated in train:
        assert list(annotated.snippet) == list(range(annotated.frame - 19, annotated.frame + 11))
        for frame in annotated.snippet:
            path = (
                root
                / "leftImg8bit_sequence"
                / "train"
                / annotated.city
                / (f"{annotated.city}_{annotated.sequence:06d}_{frame:06d}_leftImg8bit.png")
            )
            assert path.is_file() and path == annotated.frame_path(frame)
        gt = root / "gtFine" / "train" / annotated.city / annotated.name
        assert annotated.label_path == gt.parent / f"{annotated.name}_gtFine_labelTrainIds.png"
        assert (gt.parent / f"{annotated.name}_gtFine_labelIds.png").is_file()
        key_image = root / "leftImg8bit" / "train" / annotated.city
        key_image = read_image(key_image / f"{annotated.name}_leftImg8bit.png")
        np.testing.assert_array_equal(key_image, read_image(annotated.frame_path(annotated.frame)))
    assert len(list((root / "leftImg8bit_sequence").rglob("*.png"))) == 6 * SNIPPET_LENGTH
    assert not (root / "gtFine" / "test").exists()  # the test split has no labels
    assert [a.label_path for a in written["test"]] == [None]


def test_label_ids_are_real_and_train_ids_match_cityscapesscripts(synthetic):
    root, written = synthetic
    seen = set()
    for annotated in written["train"] + written["val"]:
        ids = read_label(str(annotated.label_path).replace("labelTrainIds", "labelIds"))
        train_ids = read_label(annotated.label_path)
        assert ids.shape == train_ids.shape == (SIZE["height"], SIZE["width"])
        expected = np.vectorize(lambda i: id2label[int(i)].trainId)(ids)
        np.testing.assert_array_equal(train_ids, np.where(expected < 0, 255, expected))
        seen |= set(np.unique(ids).tolist())
    names = {id2label[i].name for i in seen}
    assert {"road", "sky", "building", "ego vehicle"} <= names
    assert names & {"car", "person", "traffic sign", "bicycle"}
    assert 255 in np.unique(read_label(written["train"][0].label_path))  # ego vehicle ignored


def test_frames_move_between_consecutive_frames(synthetic):
    _, written = synthetic
    annotated = written["train"][0]
    frames = [read_image(annotated.frame_path(f)) for f in annotated.snippet]
    assert frames[0].shape == (SIZE["height"], SIZE["width"], 3) and frames[0].dtype == np.uint8
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(diffs) > 0  # camera/object motion between every pair of frames
    hood = frames[0][-2:]  # the static ego-vehicle hood does not move
    assert all(np.array_equal(hood, f[-2:]) for f in frames)


def test_listing_is_sorted_numerically(tmp_path):
    for city, seq, frame in [("b", 2, 19), ("a", 10, 119), ("a", 10, 19), ("a", 9, 519)]:
        folder = tmp_path / "gtFine" / "val" / city
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds.png"
        cv2.imwrite(str(folder / name), np.zeros((2, 2), np.uint8))
    listed = [(a.city, a.sequence, a.frame) for a in list_annotated_frames(tmp_path, "val")]
    assert listed == [("a", 9, 519), ("a", 10, 19), ("a", 10, 119), ("b", 2, 19)]


def test_clear_errors(synthetic, tmp_path):
    root, written = synthetic
    with pytest.raises(FileNotFoundError, match="gtFine/nosplit"):
        list_annotated_frames(root, "nosplit")
    annotated = written["val"][0]
    missing = frame_path(root, "val", annotated.city, annotated.sequence, annotated.frame + 11)
    with pytest.raises(FileNotFoundError, match=str(missing.name)):
        check_frames_exist(annotated, [annotated.frame, annotated.frame + 11])
    corrupt = tmp_path / "x_000000_000019_leftImg8bit.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match="cannot decode image .*x_000000_000019"):
        read_image(corrupt)
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        read_label(tmp_path / "nothing.png")
    rgb = tmp_path / "rgb_label.png"
    cv2.imwrite(str(rgb), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="single-channel"):
        read_label(rgb)
    bad_name = tmp_path / "gtFine" / "train" / "c" / "c_12_000019_gtFine_labelTrainIds.png"
    bad_name.parent.mkdir(parents=True)
    cv2.imwrite(str(bad_name), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="unexpected file name"):
        list_annotated_frames(tmp_path, "train")


def test_refuses_to_overwrite_unless_asked(synthetic, tmp_path):
    root, _ = synthetic
    with pytest.raises(FileExistsError, match="not empty"):
        make_synthetic_cityscapes(root, {"val": 1}, **SIZE)
    foreign = tmp_path / "real_cityscapes"
    (foreign / "gtFine").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="refusing to delete"):
        make_synthetic_cityscapes(foreign, {"val": 1}, overwrite=True, **SIZE)
    assert (foreign / "gtFine").is_dir()
    again = tmp_path / "again"
    first = make_synthetic_cityscapes(again, {"train": 2}, seed=1, **SIZE)
    image = read_image(first["train"][0].frame_path(0))
    second = make_synthetic_cityscapes(again, {"val": 1}, seed=1, overwrite=True, **SIZE)
    assert not (again / "gtFine" / "train").exists() and len(second["val"]) == 1
    # same seed, same content
    np.testing.assert_array_equal(read_image(second["val"][0].frame_path(0)), image)
    assert ANNOTATED_INDEX == 19


def test_a_truncated_jpeg_saved_as_png_is_refused(tmp_path):
    frame = np.random.default_rng(0).integers(0, 255, (64, 96, 3)).astype(np.uint8)
    data = cv2.imencode(".jpg", frame)[1].tobytes()
    path = tmp_path / "c_000000_000019_leftImg8bit.png"
    path.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(path)) is not None  # cv2 alone pads it with grey
    with pytest.raises(ValueError, match=rf"cannot decode image {path}: .*truncated"):
        read_image(path)


def test_an_annotated_image_without_its_label_is_named(tmp_path):
    make_synthetic_cityscapes(tmp_path, {"val": 2}, seed=1, **SIZE)
    label = sorted((tmp_path / "gtFine" / "val").glob("*/*_labelTrainIds.png"))[1]
    label.unlink()
    message = rf"1 annotated images of .*leftImg8bit/val have no label, e.g. .*: {label} is missing"
    with pytest.raises(FileNotFoundError, match=message):
        list_annotated_frames(tmp_path, "val")


def test_label_ids_outside_the_classes_are_named():
    check_label_ids(np.array([[0, 18], [255, 3]], np.uint8), 19, 255, "ok.png")
    message = (
        r"bad.png holds ids \[19, 26\] outside the 19 classes \(0-18\) and the ignore index 255"
    )
    with pytest.raises(ValueError, match=message + r": is it a \*_labelIds.png"):
        check_label_ids(np.array([[26, 19], [255, 0]], np.uint8), 19, 255, "bad.png")
