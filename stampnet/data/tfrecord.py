"""GZIP-compressed TFRecord files of ``tf.train.Example`` records, read without TensorFlow.

DeepMind's ``multi_object_datasets`` (Tetrominoes, Multi-dSprites, …) ship as such files. This reader needs only
the ``protobuf`` package, so the official files load on every Keras backend (JAX and PyTorch users need no
TensorFlow). The ``Example`` message is declared here from its public schema (tensorflow/core/example/
example.proto and feature.proto: the same field numbers, so the bytes are the same).

A record is framed as: uint64 length, uint32 masked CRC-32C of the length, the data, uint32 masked CRC-32C of the
data (all little-endian). The gzip stream carries its own CRC-32, checked as it is read, so a corrupt or cut
file fails there; the records' CRCs are written (:func:`write_records`) but not re-checked on reading.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from stampnet import ConfigError

_MESSAGES = None


def _messages():
    """(Example, Features, Feature, BytesList, FloatList, Int64List) message classes, built once."""
    global _MESSAGES
    if _MESSAGES is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        f = descriptor_pb2.FileDescriptorProto(name="stampnet_example.proto", package="stampnet.tfrecord",
                                               syntax="proto3")
        T = descriptor_pb2.FieldDescriptorProto

        def message(name, *fields):
            m = f.message_type.add(name=name)
            for number, (field, kind, label, type_name) in enumerate(fields, start=1):
                m.field.add(name=field, number=number, type=kind, label=label, type_name=type_name)
            return m

        repeated, optional = T.LABEL_REPEATED, T.LABEL_OPTIONAL
        message("BytesList", ("value", T.TYPE_BYTES, repeated, None))
        fl = message("FloatList", ("value", T.TYPE_FLOAT, repeated, None))
        fl.field[0].options.packed = True
        il = message("Int64List", ("value", T.TYPE_INT64, repeated, None))
        il.field[0].options.packed = True
        feature = message("Feature", ("bytes_list", T.TYPE_MESSAGE, optional, ".stampnet.tfrecord.BytesList"),
                          ("float_list", T.TYPE_MESSAGE, optional, ".stampnet.tfrecord.FloatList"),
                          ("int64_list", T.TYPE_MESSAGE, optional, ".stampnet.tfrecord.Int64List"))
        feature.oneof_decl.add(name="kind")
        for field in feature.field:
            field.oneof_index = 0
        features = message("Features", ("feature", T.TYPE_MESSAGE, repeated, ".stampnet.tfrecord.Features.FeatureEntry"))
        entry = features.nested_type.add(name="FeatureEntry")
        entry.field.add(name="key", number=1, type=T.TYPE_STRING, label=optional)
        entry.field.add(name="value", number=2, type=T.TYPE_MESSAGE, label=optional,
                        type_name=".stampnet.tfrecord.Feature")
        entry.options.map_entry = True
        message("Example", ("features", T.TYPE_MESSAGE, optional, ".stampnet.tfrecord.Features"))
        pool = descriptor_pool.DescriptorPool()
        pool.Add(f)
        _MESSAGES = tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"stampnet.tfrecord.{n}"))
                          for n in ("Example", "Features", "Feature", "BytesList", "FloatList", "Int64List"))
    return _MESSAGES


# ------------------------------------------------------------------------------------------------ framing

def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = None


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C (Castagnoli) of ``data`` (pure Python: for writing small files)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _crc32c_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path, limit: int | None = None) -> Iterator[bytes]:
    """The records of a GZIP-compressed TFRecord file, the first ``limit`` of them; a missing, cut or
    non-TFRecord file is one ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no TFRecord file at {path}; set run_parameters.img_type_parameters.data_path to the "
                          "downloaded file (docs/benchmarks.md says where to get it)")
    n = 0
    try:
        with gzip.open(path, "rb") as f:
            while limit is None or n < limit:
                head = f.read(12)
                if not head:
                    return
                if len(head) < 12:
                    raise ConfigError(f"{path} ends inside a record header after {n:,} records: the file is cut "
                                      "short; download it again")
                length, _ = struct.unpack("<QI", head)
                if length > 1 << 30:
                    raise ConfigError(f"{path} is not a TFRecord file (a record of {length:,} bytes); give the "
                                      "GZIP-compressed .tfrecords file of the data set")
                data = f.read(length + 4)
                if len(data) < length + 4:
                    raise ConfigError(f"{path} ends inside record {n + 1:,}: the file is cut short; download it "
                                      "again")
                n += 1
                yield data[:length]
    except (OSError, EOFError, zlib.error) as err:   # gzip.BadGzipFile is an OSError
        raise ConfigError(f"{path} is not a readable GZIP-compressed TFRecord file ({err}); download it again, "
                          "or give the data set's .tfrecords file") from None


def write_records(path, records) -> Path:
    """Write ``records`` (bytes) as a GZIP-compressed TFRecord file (through a temporary file and a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with gzip.open(tmp, "wb") as f:
            for data in records:
                length = struct.pack("<Q", len(data))
                f.write(length + struct.pack("<I", masked_crc32c(length)) + data
                        + struct.pack("<I", masked_crc32c(data)))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------------------------------------ Examples

def parse_example(data: bytes) -> dict:
    """A serialised ``tf.train.Example`` → {feature name: list of bytes | numpy float32 | numpy int64}."""
    example = _messages()[0]()
    try:
        example.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError
        raise ConfigError(f"a record is not a tf.train.Example ({err}); is this the data set's .tfrecords file?") \
            from None
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[key] = list(feature.bytes_list.value)
        elif kind == "float_list":
            out[key] = np.asarray(feature.float_list.value, np.float32)
        elif kind == "int64_list":
            out[key] = np.asarray(feature.int64_list.value, np.int64)
    return out


def make_example(features: dict) -> bytes:
    """{name: list of bytes | float array | int array} → a serialised ``tf.train.Example``."""
    example = _messages()[0]()
    for key, value in features.items():
        feature = example.features.feature[key]
        if isinstance(value, (list, tuple)) and (not value or isinstance(value[0], bytes)):
            feature.bytes_list.value.extend(value)
        elif np.issubdtype(np.asarray(value).dtype, np.integer):
            feature.int64_list.value.extend(np.asarray(value).ravel().tolist())
        else:
            feature.float_list.value.extend(np.asarray(value, np.float32).ravel().tolist())
    return example.SerializeToString()


def byte_feature(values: list, shape: tuple, name: str, where) -> np.ndarray:
    """DeepMind's byte features (a ``tf.string`` FixedLenFeature of ``shape``, one byte per value, decoded with
    ``decode_raw``) as a uint8 array of ``shape``; one ConfigError when the count does not fit."""
    count = int(np.prod(shape))
    if len(values) == count and all(len(v) == 1 for v in values[:4]):
        return np.frombuffer(b"".join(values), np.uint8).reshape(shape)
    if len(values) == 1 and len(values[0]) == count:          # the same bytes in one string
        return np.frombuffer(values[0], np.uint8).reshape(shape)
    got = len(values) if len(values) != 1 else len(values[0])
    raise ConfigError(f"{where}: feature {name!r} holds {got:,} values where {shape} needs {count:,}: the file is of "
                      "another data set or variant; check img_type and img_type_parameters.variant")
