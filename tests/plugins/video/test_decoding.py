"""Exactness of the compressed-domain modalities on videos with known motion, and FFmpeg's raw vectors."""

from __future__ import annotations

import dataclasses
import sys

import av
import numpy as np
import pytest

from pkd_plugins.video import container as container_module
from pkd_plugins.video.container import read_index
from pkd_plugins.video.encoding import EncoderSettings, VideoWriter, write_video
from pkd_plugins.video.export import export_motion_vectors
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.representations import DecodedVideo, read_representations

from .conftest import moving_square, shared

ALL = {
    "iframe": Representation("iframe"),
    "rgb": Representation("rgb"),
    "mv": Representation("mv"),
    "mv_frame": Representation("mv", accumulate=False),
    "mv_subpixel": Representation("mv", precision="subpixel"),
    "residual": Representation("residual"),
    "residual_frame": Representation("residual", accumulate=False),
}


def p_frames(index) -> list[int]:
    return [frame for frame in range(index.frames) if not index.is_keyframe(frame)]


def test_gops_come_from_keyframe_flags(known_motion):
    index = read_index(known_motion.path)
    assert (index.frames, index.keyframes, index.gop_lengths) == (24, (0, 12), [12, 12])
    assert not index.reorders_frames and index.motion_problem() is None


def test_an_early_keyframe_starts_a_gop_and_the_index_follows_it(tmp_path):
    path = tmp_path / "cut.avi"
    with VideoWriter(path, 25, EncoderSettings(width=64, height=48)) as writer:
        for number, image in enumerate(moving_square(20, size=(64, 48), side=16, velocity=(1, 1), start=(4, 4))):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            if number == 7:  # as a scene cut would: an I-frame in the middle of a GOP
                frame.pict_type = av.video.frame.PictureType.I
            writer.add(frame)
    index = read_index(path)
    assert index.keyframes == (0, 7, 19)  # GOPs from the flags, not from index // 12
    assert index.gop_start(9) == 7 and index.gop_start(6) == 0 and index.gop_lengths == [7, 12, 1]
    assert index.motion_frame(7) == 6 and index.motion_frame(19) == 18  # I-frame positions use the previous P-frame
    out = read_representations(path, [6, 7, 10], {"iframe": Representation("iframe"), "mv": Representation("mv")})
    np.testing.assert_array_equal(out["mv"][0], out["mv"][1])
    assert not np.array_equal(out["iframe"][0], out["iframe"][2])  # frame 10's I-frame is frame 7, not frame 0


def test_motion_vectors_over_the_object_equal_its_motion(known_motion):
    index = read_index(known_motion.path)
    frames = p_frames(index)
    out = read_representations(known_motion.path, frames, ALL)
    exact_per_frame, exact_accumulated = [], []
    for slot, frame in enumerate(frames):
        rows, columns = known_motion.core(frame)
        steps = frame - index.gop_start(frame)
        exact_per_frame.append(np.mean(np.all(out["mv_frame"][slot][rows, columns] == known_motion.velocity, axis=-1)))
        cumulative = np.multiply(known_motion.velocity, steps)
        exact_accumulated.append(np.mean(np.all(out["mv"][slot][rows, columns] == cumulative, axis=-1)))
        np.testing.assert_allclose(np.median(out["mv_subpixel"][slot][rows, columns], axis=(0, 1)), cumulative)
    # The encoder may code an odd block differently; the object's core is exact in almost every frame.
    assert np.mean(exact_per_frame) > 0.95 and min(exact_per_frame) > 0.8
    assert np.mean(exact_accumulated) > 0.95 and min(exact_accumulated) > 0.8


def test_residuals_are_far_below_the_plain_frame_difference(known_motion):
    """On the moving object, where the plain difference is large and the prediction should be good."""
    index = read_index(known_motion.path)
    frames = p_frames(index)
    out = read_representations(known_motion.path, frames, ALL)
    decoded = out["rgb"].astype(np.float32)
    previous = read_representations(known_motion.path, [f - 1 for f in frames], {"rgb": ALL["rgb"]})["rgb"].astype(np.float32)
    for slot, frame in enumerate(frames):
        rows, columns = known_motion.core(frame, margin=10)
        per_frame = np.abs(out["residual_frame"][slot][rows, columns]).mean()
        assert per_frame < 0.2 * np.abs(decoded[slot][rows, columns] - previous[slot][rows, columns]).mean()
        accumulated = np.abs(out["residual"][slot][rows, columns]).mean()
        assert accumulated < 0.2 * np.abs(decoded[slot][rows, columns] - out["iframe"][slot][rows, columns]).mean()


def test_h264_motion_vectors_follow_the_object(known_motion_h264):
    index = read_index(known_motion_h264.path)
    assert index.codec == "h264" and index.reference_frames == 1 and index.motion_problem() is None
    frames = p_frames(index)
    mv = read_representations(known_motion_h264.path, frames, {"mv": ALL["mv_subpixel"]})["mv"]
    for slot, frame in enumerate(frames):
        rows, columns = known_motion_h264.core(frame)
        steps = frame - index.gop_start(frame)
        median = np.median(mv[slot][rows, columns], axis=(0, 1))
        np.testing.assert_allclose(median, np.multiply(known_motion_h264.velocity, steps), atol=0.5 * steps + 0.5)


def test_motion_and_residual_never_come_from_an_i_frame(known_motion):
    out = read_representations(known_motion.path, [0, 12, 11], {"mv": ALL["mv"], "residual": ALL["residual"]})
    np.testing.assert_array_equal(out["mv"][1], out["mv"][2])  # position 12 (I) reads frame 11 (P)
    np.testing.assert_array_equal(out["mv"][0], read_representations(known_motion.path, [1], {"mv": ALL["mv"]})["mv"][0])
    assert np.abs(out["mv"][1]).max() > 0


def test_each_gop_is_decoded_once_and_only_up_to_the_furthest_frame(known_motion, monkeypatch):
    decoded = []
    original = container_module.GopDecoder.frames

    def counting(self, start, last):
        for frame_index, frame in original(self, start, last):
            decoded.append(frame_index)
            yield frame_index, frame

    monkeypatch.setattr(container_module.GopDecoder, "frames", counting)
    read_representations(known_motion.path, [3, 7, 5, 14], {"mv": ALL["mv"], "iframe": ALL["iframe"], "residual": ALL["residual"]})
    assert decoded == [*range(0, 8), *range(12, 15)]


def test_decoding_into_memory_gives_the_same_clips(known_motion):
    memory = DecodedVideo.decode(known_motion.path, ALL)
    positions = [2, 9, 12, 13, 23]
    direct = read_representations(known_motion.path, positions, ALL)
    cached = read_representations(known_motion.path, positions, ALL, memory=memory)
    for key in ALL:
        np.testing.assert_array_equal(direct[key], cached[key])


def test_reused_buffers_hold_the_same_values_and_are_written_again_by_the_next_call(known_motion):
    fresh = read_representations(known_motion.path, [3, 14, 20], ALL)
    reused = read_representations(known_motion.path, [3, 14, 20], ALL, reuse=True)
    for key in ALL:
        np.testing.assert_array_equal(reused[key], fresh[key])
    following = read_representations(known_motion.path, [5, 9, 17], ALL, reuse=True)
    assert all(following[key] is reused[key] for key in ALL)  # no new pages per clip: what the loader relies on
    assert not np.array_equal(following["mv"], fresh["mv"])  # and the caller's earlier values are gone
    other_shape = read_representations(known_motion.path, [5], ALL, reuse=True)
    assert other_shape["rgb"].shape[0] == 1 and other_shape["mv"] is not following["mv"]  # a new shape: a new buffer


def test_exported_vectors_equal_the_published_reference_exactly():
    folder = shared("mv_reference")
    reference = np.load(folder / "vid_mpeg4_part2_mvs_first36.npz")
    assert list(reference["columns"]) == ["source", "w", "h", "src_x", "src_y", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale"]
    exported = export_motion_vectors(folder / "vid_mpeg4_part2.mp4", limit=36)
    assert len(exported) == 36
    for number, vectors in enumerate(exported):
        expected = reference[f"frame_{number:03d}"]
        assert vectors.shape == expected.shape, f"frame {number}"
        np.testing.assert_array_equal(vectors, expected, err_msg=f"frame {number}")
    keyframes = [n for n, kind in enumerate(reference["frame_types"]) if kind == "I"]
    assert [n for n in keyframes if n < 36] == [n for n in read_index(folder / "vid_mpeg4_part2.mp4").keyframes if n < 36]


def test_exported_vectors_of_a_whole_video(known_motion):
    exported = export_motion_vectors(known_motion.path)
    assert len(exported) == 24 and exported[0].shape == (0, 10) and exported[12].shape == (0, 10)
    assert all(len(vectors) > 0 for n, vectors in enumerate(exported) if n not in (0, 12))


@pytest.mark.parametrize("precision", ["integer", "subpixel"])
def test_outputs_have_the_documented_shapes_and_types(known_motion, precision):
    wanted = {key: Representation(r.kind, r.accumulate, precision) for key, r in ALL.items()}
    out = read_representations(known_motion.path, [1, 30, -4], wanted)  # positions outside are clamped
    for key, representation in wanted.items():
        assert out[key].shape == (3, 96, 128, representation.channels)
        assert out[key].dtype == (np.uint8 if representation.kind in ("iframe", "rgb") else np.float32)


def test_a_video_without_usable_timestamps_is_read_from_its_start(known_motion):
    wanted = {"mv": ALL["mv"], "residual": ALL["residual"], "iframe": ALL["iframe"]}
    positions = [20, 3, 14]
    without = dataclasses.replace(read_index(known_motion.path), pts=None)  # no seeking possible
    expected = read_representations(known_motion.path, positions, wanted)
    for key, values in read_representations(known_motion.path, positions, wanted, index=without).items():
        np.testing.assert_array_equal(values, expected[key])


def test_coviar_raw_mpeg4_streams_read_like_contained_ones(known_motion, tmp_path):
    """CoViAR's reencode.sh writes a raw MPEG-4 elementary stream (named .mp4)."""
    raw = tmp_path / "raw.mp4"
    write_video(raw, known_motion.frames, settings=EncoderSettings(width=128, height=96, scene_cuts=False), muxer="m4v")
    wanted = {"mv": ALL["mv"], "residual": ALL["residual"]}
    expected = read_representations(known_motion.path, [5, 17], wanted)
    for key, values in read_representations(raw, [5, 17], wanted).items():
        np.testing.assert_array_equal(values, expected[key])


def test_reading_motion_vectors_leaves_no_reference_to_the_frame(known_motion):
    """``frame.side_data`` is a reference cycle: decoded frames would live until the garbage collector runs."""
    with av.open(str(known_motion.path)) as container:
        container.streams.video[0].codec_context.options = {"flags2": "+export_mvs"}
        frame = [frame for _, frame in zip(range(3), container.decode(video=0))][-1]
        if container_module._own_side_data(frame) is None:
            pytest.skip("this PyAV makes side-data containers only for the frame itself")
        references = sys.getrefcount(frame)
        records = container_module.motion_vector_records(frame)
        assert records is not None and len(records) > 0
        assert sys.getrefcount(frame) > references  # the records read the frame's side data in place
        del records
        assert sys.getrefcount(frame) == references
