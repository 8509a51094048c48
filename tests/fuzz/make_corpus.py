#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/<target>/ (a few valid
inputs and a few malformed ones per target). Regression inputs found by the
fuzzers are added next to them as files named regression-*; this script
never touches those. Run it again after changing the input format of a
target: python3 tests/fuzz/make_corpus.py
"""
import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


# ---- protobuf wire format, just what master.proto's requests need ----------

def varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((number << 3) | 2) + varint(len(data)) + data


def field_fixed64(number, value):
    return varint((number << 3) | 1) + struct.pack("<Q", value)


def uuid(hi, lo):
    return field_fixed64(1, hi) + field_fixed64(2, lo)


CLIENT = uuid(0x1111, 0x2222)
SEGMENT_ID = uuid(0x3333, 0x4444)


def request(request_id, body_field, body):
    return field_varint(1, request_id) + field_bytes(body_field, body)


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


HELLO = b"MCHP" + struct.pack("<I", 1)

MOUNT = request(1, 25, field_bytes(1, CLIENT) + field_bytes(
    2, field_bytes(1, SEGMENT_ID) + field_bytes(2, "127.0.0.1:12345")
    + field_varint(3, 0x10000000) + field_varint(4, 64 << 20)))
PUT_START = request(2, 10, field_bytes(1, CLIENT) + field_bytes(2, "key-1")
                    + field_varint(3, 4096) + field_bytes(4, field_varint(1, 1)))
PUT_END = request(3, 11, field_bytes(1, CLIENT) + field_bytes(2, "key-1"))
GET = request(4, 16, field_bytes(1, CLIENT) + field_bytes(2, "key-1"))
EXIST_BATCH = request(5, 19, field_bytes(1, CLIENT) + field_bytes(2, "key-1")
                      + field_bytes(2, "key-2"))
BATCH_PUT = request(6, 13, field_bytes(1, CLIENT) + field_bytes(2, "a") + field_bytes(2, "b")
                    + field_varint(3, 100) + field_varint(3, 200)
                    + field_bytes(4, field_varint(1, 2)))
REGEX_GET = request(7, 23, field_bytes(1, "key-.*"))
REMOVE_REGEX = request(8, 21, field_bytes(1, "(a|b)+"))
PING = request(9, 24, field_bytes(1, CLIENT))
SERVICE_INFO = request(10, 28, b"")
COPY_TASK = request(11, 31, field_bytes(1, "key-1") + field_bytes(2, "127.0.0.1:12345"))
UNMOUNT = request(12, 27, field_bytes(1, CLIENT) + field_bytes(2, SEGMENT_ID))
REMOVE_ALL = request(13, 22, b"")
NO_BODY = field_varint(1, 14)


def hot_path():
    # Mode byte: bit 0 = starts with the hello; bits 1..7 = clock step.
    session = [MOUNT, PUT_START, PUT_END, GET, EXIST_BATCH, REGEX_GET, PING]
    write("master_hot_path", "hello_put_get", bytes([1]) + HELLO + b"".join(map(frame, session)))
    write("master_hot_path", "frames_batch_and_tasks", bytes([0]) + b"".join(
        map(frame, [MOUNT, BATCH_PUT, COPY_TASK, REMOVE_REGEX, SERVICE_INFO, UNMOUNT, REMOVE_ALL])))
    write("master_hot_path", "zombie_put_with_clock", bytes([0x41]) + HELLO + b"".join(
        map(frame, [MOUNT, PUT_START, PING, PING, PUT_END, GET])))
    write("master_hot_path", "no_body", bytes([0]) + frame(NO_BODY) + frame(b""))
    write("master_hot_path", "bad_magic", bytes([1]) + b"GET / HTTP/1.1\r\n\r\n")
    write("master_hot_path", "wrong_version", bytes([1]) + b"MCHP" + struct.pack("<I", 7))
    write("master_hot_path", "oversized_frame", bytes([0]) + struct.pack("<I", 0xFFFFFFFF) + b"x")
    write("master_hot_path", "truncated_frame", bytes([0]) + frame(MOUNT)[:-3])
    write("master_hot_path", "garbage_payload", bytes([0]) + frame(b"\xff\xff\xff\xff\x0f"))


# ---- transfer engine TCP wire protocol ---------------------------------------

REQUEST_MAGIC = 0x5154434D
RESPONSE_MAGIC = 0x5254434D


def request_header(opcode, hi, lo, address, length, request_id, magic=REQUEST_MAGIC):
    return struct.pack("<IB3xQQQQQ", magic, opcode, hi, lo, address, length, request_id)


def response_header(status, error, length, request_id, magic=RESPONSE_MAGIC):
    return struct.pack("<iii4xQQ", magic if magic < 2**31 else magic - 2**32, status, error,
                       length, request_id)


def regions_and_probes(regions, probes):
    # Address(): kind byte (not 0 mod 8) + u16; length: selector byte + u16.
    out = bytes([len(regions)])
    for address, length, remote in regions:
        out += bytes([1]) + struct.pack("<H", address) + bytes([1]) + struct.pack("<H", length)
        out += bytes([remote])
    for address, length in probes:
        out += bytes([1]) + struct.pack("<H", address) + bytes([1]) + struct.pack("<H", length)
    return out


def wire_protocol():
    round_trip = bytes(range(1, 1 + 1 + 16 + 8 + 8 + 8 + 4 + 2 + 8 + 8))
    regions = regions_and_probes([(0x100, 0x100, 1), (0x300, 0x40, 0), (0x200, 0x100, 1)],
                                 [(0x100, 0x100), (0x1FF, 2), (0x300, 1), (0x2FF, 1)])
    write("wire_protocol", "read_ok", request_header(1, 7, 8, 0x1000, 4096, 1)
          + response_header(0, 0, 4096, 1) + round_trip + regions)
    write("wire_protocol", "write_refused", request_header(2, 7, 8, 0xFFFFFFFFFFFFF000, 1 << 30, 2)
          + response_header(2, 0, 0, 2) + round_trip + regions)
    write("wire_protocol", "descriptor_and_control", request_header(3, 0, 0, 0, 0, 3)
          + response_header(5, -706, 12, 3) + round_trip)
    write("wire_protocol", "unknown_opcode_and_error", request_header(0xEE, 1, 1, 1, 1, 4)
          + response_header(1, -123456, 0, 4))
    write("wire_protocol", "bad_magic", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\0" * 60)
    write("wire_protocol", "short", struct.pack("<I", REQUEST_MAGIC) + b"\x01")


# ---- segment descriptors -------------------------------------------------------

def segment_descriptor():
    valid = {
        "name": "localhost:12345",
        "instance_id": "0123abcd-4567-89ef-0123-456789abcdef",
        "host_id": "boot-id/4026531840",
        "pid": 4242,
        "tcp_endpoint": "127.0.0.1:12345",
        "version": 7,
        "removal_epoch": 2,
        "status_page": {"fd": 5, "inode": 99, "size": 4096},
        "ranges": [
            {"address": 140000000, "length": 4096, "shm": {"fd": 6, "inode": 100, "size": 4096}},
            {"address": 130000000, "length": 8192, "transports": {"rdma": {"rkey": [1, 2]}}},
        ],
        "transports": {"rdma": {"gid": "fe80::1", "lid": 3, "qp": [1.5, -2, True, None]}},
    }
    write("segment_descriptor", "valid_full", json.dumps(valid))
    minimal = {key: valid[key] for key in ("name", "instance_id", "host_id", "pid",
                                           "tcp_endpoint", "version", "removal_epoch")}
    minimal["ranges"] = []
    write("segment_descriptor", "valid_minimal", json.dumps(minimal))
    edge = dict(minimal, ranges=[{"address": 18446744073709551614, "length": 1},
                                 {"address": 0, "length": 18446744073709551614}])
    write("segment_descriptor", "valid_edges", json.dumps(edge))
    overlap = dict(minimal, ranges=[{"address": 100, "length": 50}, {"address": 120, "length": 5}])
    write("segment_descriptor", "overlapping_ranges", json.dumps(overlap))
    wrap = dict(minimal, ranges=[{"address": 18446744073709551615, "length": 2}])
    write("segment_descriptor", "wrapping_range", json.dumps(wrap))
    write("segment_descriptor", "bad_uuid", json.dumps(dict(minimal, instance_id="not-a-uuid")))
    write("segment_descriptor", "negative_pid_and_float", json.dumps(
        dict(minimal, pid=-1, version=1.5)))
    write("segment_descriptor", "truncated", json.dumps(valid)[:57])
    write("segment_descriptor", "not_utf8", b'{"name": "\xff\xfe", "ranges": []}')


# ---- metadata store ------------------------------------------------------------

def metadata_store():
    # u16 bound, then ops: kind byte, key byte (<200: one of 6 keys), and for
    # a put a u16 value size and a content-type selector byte.
    def put(key, size, json_type=True):
        return bytes([0, key]) + struct.pack("<H", size) + bytes([1 if json_type else 0]) + \
            (b"" if json_type else bytes([4]) + b"text")

    def get(key):
        return bytes([1, key])

    def remove(key):
        return bytes([2, key])

    write("metadata_store", "put_get_remove", struct.pack("<H", 8192)
          + put(0, 100) + get(0) + put(1, 200, False) + get(1) + remove(0) + get(0) + remove(0))
    write("metadata_store", "fill_to_bound", struct.pack("<H", 600)
          + put(0, 300) + put(1, 300) + put(0, 10) + put(1, 270) + get(1))
    write("metadata_store", "replace_bigger", struct.pack("<H", 1000)
          + put(2, 500) + put(2, 900) + put(2, 2000) + get(2))
    write("metadata_store", "zero_bound", struct.pack("<H", 0) + put(3, 0) + get(3) + remove(3))
    write("metadata_store", "odd_keys", struct.pack("<H", 4096) + bytes([0, 250, 3]) + b"\0/\xff"
          + struct.pack("<H", 7) + bytes([1]) + bytes([1, 250, 3]) + b"\0/\xff")


# ---- ParseSize / ParseHostPort ----------------------------------------------------

def text_targets():
    for name, text in [("plain", "16777216"), ("mb", "16MB"), ("mib_space", " 16 MiB "),
                       ("decimal_gb", "1.5 GB"), ("lower", "4gb"), ("max", "18446744073709551615"),
                       ("overflow", "18446744073709551616"), ("percent", "50%"),
                       ("negative", "-1"), ("unit_only", "MB"), ("dot", "."),
                       ("huge_decimal", "9" * 5000 + ".5"), ("big_decimal", "10000000000000000000.0")]:
        write("parse_size", name, text)
    for name, text in [("host_port", "localhost:12345"), ("ipv4", "10.0.0.1:80"),
                       ("ipv6", "[::1]:1234"), ("ipv6_bare", "fe80::1"), ("host_only", "node-7"),
                       ("port_zero", "host:0"), ("port_big", "host:65536"), ("empty_host", ":80"),
                       ("unclosed", "[::1"), ("trailing", "[::1]x"), ("empty_port", "host:"),
                       ("nested_brackets", "[[a]:1")]:
        write("parse_host_port", name, text)


if __name__ == "__main__":
    hot_path()
    wire_protocol()
    segment_descriptor()
    metadata_store()
    text_targets()
