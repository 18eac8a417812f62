"""Read TensorFlow (V2 bundle) checkpoints with numpy alone, no TensorFlow.

A checkpoint `prefix` is two files: `prefix.index`, a LevelDB-style sorted string table mapping each variable
name to a `BundleEntryProto` (dtype, shape, shard, offset, size), and `prefix.data-00000-of-0000N`, the raw
little-endian tensor bytes. Only what the musicnn checkpoints use is supported: uncompressed blocks, numeric
dtypes, unsliced variables.
"""

# Adapted from the file formats in tensorflow/core/util/tensor_bundle/tensor_bundle.proto and
# google/leveldb/doc/table_format.md (the format descriptions, not their code).

from __future__ import annotations

import os
import struct

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LENGTH = 48
_BLOCK_TRAILER_LENGTH = 5  # one byte compression type + four bytes crc32c

# tensorflow/core/framework/types.proto DataType -> numpy dtype
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    14: np.uint16,  # bfloat16 bits; not used by musicnn
    17: np.uint16,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}


class CheckpointFormatError(ValueError):
    """The file is not a TensorFlow V2 checkpoint this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _parse_proto(buf: bytes) -> dict[int, list]:
    """Decode protobuf wire format into `{field_number: [values]}` (varints as int, length-delimited as bytes)."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def _block_entries(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one table block (keys are prefix-compressed against the previous key)."""
    if data[offset + size] != 0:
        raise CheckpointFormatError("compressed checkpoint index blocks are not supported")
    block = data[offset : offset + size]
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_length]))
        pos += value_length
    return entries


def _read_index(index_path: str) -> dict[str, dict[int, list]]:
    with open(index_path, "rb") as f:
        data = f.read()
    if len(data) < _FOOTER_LENGTH or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{index_path} is not a TensorFlow checkpoint index (bad table magic)")
    footer = data[len(data) - _FOOTER_LENGTH :]
    _, pos = _varint(footer, 0)  # metaindex offset
    _, pos = _varint(footer, pos)  # metaindex size
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries = {}
    for _, handle in _block_entries(data, index_offset, index_size):
        block_offset, pos = _varint(handle, 0)
        block_size, _ = _varint(handle, pos)
        for key, value in _block_entries(data, block_offset, block_size):
            entries[key.decode("utf-8")] = _parse_proto(value)
    return entries


def _shape(shape_proto: bytes) -> tuple[int, ...]:
    dims = []
    for dim in _parse_proto(shape_proto).get(2, []):
        dims.append(_parse_proto(dim).get(1, [0])[0])
    return tuple(dims)


def read_tf_checkpoint(prefix: str | os.PathLike, skip_optimizer_slots: bool = True) -> dict[str, np.ndarray]:
    """Read every variable of a TensorFlow V2 checkpoint.

    Args:
        prefix (`str` or `os.PathLike`):
            The checkpoint prefix: `prefix.index` and `prefix.data-*` must exist. For the musicnn package the
            prefix is the model folder followed by a separator (the files are named `.index`, `.data-...`).
        skip_optimizer_slots (`bool`, *optional*, defaults to `True`):
            Leave out Adam slots (`.../Adam`, `.../Adam_1`) and the `beta1_power`/`beta2_power` scalars.

    Returns:
        `dict[str, np.ndarray]`: variable name -> array of the stored dtype and shape.

    Raises:
        `CheckpointFormatError`: the files are missing or not a checkpoint this reader understands.
    """
    prefix = os.fspath(prefix)
    index_path = prefix + ".index"
    if not os.path.isfile(index_path):
        raise CheckpointFormatError(f"no checkpoint index at {index_path!r}")
    entries = _read_index(index_path)
    header = entries.pop("", {})
    num_shards = header.get(1, [1])[0]
    shards: dict[int, bytes] = {}
    tensors = {}
    for name, entry in entries.items():
        if skip_optimizer_slots and (name.endswith(("/Adam", "/Adam_1")) or name.startswith("beta")):
            continue
        if 7 in entry:
            raise CheckpointFormatError(f"sliced variable {name!r} is not supported")
        dtype_id = entry.get(1, [0])[0]
        if dtype_id not in _DTYPES:
            raise CheckpointFormatError(f"variable {name!r} has unsupported dtype id {dtype_id}")
        shard_id, offset, size = entry.get(3, [0])[0], entry.get(4, [0])[0], entry.get(5, [0])[0]
        if shard_id not in shards:
            shard_path = f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"
            if not os.path.isfile(shard_path):
                raise CheckpointFormatError(f"missing checkpoint data shard {shard_path!r}")
            with open(shard_path, "rb") as f:
                shards[shard_id] = f.read()
        shape = _shape(entry[2][0]) if 2 in entry else ()
        array = np.frombuffer(shards[shard_id], dtype=_DTYPES[dtype_id], count=int(np.prod(shape)), offset=offset)
        if array.nbytes != size:
            raise CheckpointFormatError(f"variable {name!r}: {array.nbytes} bytes for {shape}, index says {size}")
        tensors[name] = array.reshape(shape).copy()
    return tensors
