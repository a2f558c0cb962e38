"""How many reference frames an H.264 stream may use, read from its sequence parameter set.

FFmpeg exports an H.264 motion vector's direction (past or future) but not
which reference frame it points into, so motion vectors are only meaningful
when every P-frame predicts from the frame before it: ``max_num_ref_frames`` 1.
The SPS carries that number; this module reads it from the codec's extradata
(``avcC`` in MP4/Matroska, or Annex B start codes) or from a keyframe packet.
"""

from __future__ import annotations

import re

SPS_NAL_TYPE = 7
# Profiles whose SPS carries chroma format, bit depths and scaling matrices (H.264 7.3.2.1.1).
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
_START_CODE = re.compile(b"\x00\x00\x01")


class _Bits:
    """An MSB-first bit reader with Exp-Golomb codes, over an RBSP (emulation bytes removed)."""

    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def bit(self) -> int:
        byte = self.data[self.position >> 3]  # IndexError when the SPS is cut short
        value = (byte >> (7 - (self.position & 7))) & 1
        self.position += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def unsigned(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("invalid Exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def signed(self) -> int:
        code = self.unsigned()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _rbsp(nal: bytes) -> bytes:
    """The NAL payload without its header byte and without emulation-prevention bytes (00 00 03)."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following != 0:
            following = (last + bits.signed() + 256) % 256
        last = following if following != 0 else last


def sps_max_reference_frames(nal: bytes) -> int:
    """``max_num_ref_frames`` of one SPS NAL unit (header byte included)."""
    bits = _Bits(_rbsp(nal))
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.unsigned()  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        chroma_format = bits.unsigned()
        if chroma_format == 3:
            bits.bit()  # separate_colour_plane_flag
        bits.unsigned()  # bit_depth_luma_minus8
        bits.unsigned()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format != 3 else 12):
                if bits.bit():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.unsigned()  # log2_max_frame_num_minus4
    order_type = bits.unsigned()
    if order_type == 0:
        bits.unsigned()  # log2_max_pic_order_cnt_lsb_minus4
    elif order_type == 1:
        bits.bit()  # delta_pic_order_always_zero_flag
        bits.signed()  # offset_for_non_ref_pic
        bits.signed()  # offset_for_top_to_bottom_field
        for _ in range(bits.unsigned()):
            bits.signed()
    return bits.unsigned()


def _sps_units(data: bytes) -> list[bytes]:
    """SPS NAL units found in ``avcC`` extradata or in an Annex B byte stream."""
    if len(data) > 7 and data[0] == 1:  # avcC: version 1, then length-prefixed parameter sets
        count, offset, units = data[5] & 0x1F, 6, []
        for _ in range(count):
            length = int.from_bytes(data[offset : offset + 2], "big")
            units.append(data[offset + 2 : offset + 2 + length])
            offset += 2 + length
        return units
    pieces = _START_CODE.split(data)
    return [piece for piece in pieces if piece and piece[0] & 0x1F == SPS_NAL_TYPE]


def _length_prefixed_sps(packet: bytes) -> list[bytes]:
    """SPS NAL units of an MP4-style packet (4-byte big-endian lengths), when it is one."""
    units, offset = [], 0
    while offset + 4 <= len(packet):
        length = int.from_bytes(packet[offset : offset + 4], "big")
        if length == 0 or offset + 4 + length > len(packet):
            return []
        nal = packet[offset + 4 : offset + 4 + length]
        if nal[0] & 0x1F == SPS_NAL_TYPE:
            units.append(nal)
        offset += 4 + length
    return units


def max_reference_frames(extradata: bytes | None, keyframe_packet: bytes | None = None) -> int | None:
    """The largest ``max_num_ref_frames`` of the stream's SPS, or None when no SPS can be read."""
    sources = [extradata or b"", keyframe_packet or b""]
    units = [unit for source in sources for unit in _sps_units(source)]
    if not units and keyframe_packet:
        units = _length_prefixed_sps(keyframe_packet)
    counts = []
    for unit in units:
        try:
            counts.append(sps_max_reference_frames(unit))
        except (IndexError, ValueError):
            continue  # a damaged SPS: the others may still tell
    return max(counts) if counts else None
