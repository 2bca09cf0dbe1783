"""Hostile model files: fastreg.load refuses each with a clear ValueError, using little memory.

Every file is built here from a real model file (or from nothing) and loaded in a child
process (``test_hostile``'s harness), whose address space is capped a little above what
it holds after its imports: a loader that believed a file's claims would blow the cap or
crash the child, which fails the test instead of the machine. The child reports, per
file, the exception and the peak of memory NumPy and Python allocated while loading it
(tracemalloc), and its peak resident size overall.

* sizes claimed against the file's real contents: a zip bomb (a 3.1 MB deflated member
  that inflates to 3.2 GB), a member whose .npy header claims 10**12 float64, members
  that overlap, 10**15 strings of no bytes each, JSON that claims 10**8 or 10**12
  parameters, an output layer of 2**31 units, convolutions whose rows would hold 2**31
  values, 2**20 + 1 class labels of one letter (each a Python str once loaded);
* inconsistent content: 5 classes for 3 outputs, counters out of range (``steps=10**300``),
  one class for 3 outputs, a weight array of the wrong dtype, NaN weights, missing, extra
  and shared arrays, unknown classes, invalid parameters and settings, bad generator
  states (an MT19937 position past its key, which NumPy accepts and then reads outside),
  JSON nested too deeply, models nested 200 deep, a 5000-digit integer;
* files that are not model files: a .npy, a text file, a truncated file, random bytes, an
  empty file, a pickle, an .npz without metadata, a file of an older format version, a
  member holding pickled objects, a metadata member that is not a .npy array;
* 1000 files with one to three bytes changed (two thirds of them in the zip and .npy
  headers): each loads or raises ValueError.
"""
import io
import json
import pickle
import struct
import zipfile
import zlib

import numpy as np
import pytest

import fastreg
from test_hostile import records, run_checked

pytestmark = pytest.mark.stress

#: Peak of memory one hostile file may make load allocate (tracemalloc), and the most the
#: child's resident size may grow over all of them: the largest file is 3.1 MB.
PEAK_LIMIT = 16 * 2**20
RSS_LIMIT = 100 * 2**20


# ---------------------------------------------------------------------------- zip by hand
def deflated_zeros(prefix, n_zeros):
    """(raw deflate stream of ``prefix`` + ``n_zeros`` zero bytes, its CRC-32), made of one
    compressed block of 16 MiB of zeros repeated (each block is flushed, so it stands alone)."""
    chunk = 1 << 24
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)]
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block.compress(bytes(chunk)) + block.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(n_zeros, chunk)
    parts += [block] * count
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts.append(tail.compress(bytes(rest)) + tail.flush(zlib.Z_FINISH))
    crc, zeros = zlib.crc32(prefix), bytes(chunk)
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    return b"".join(parts), zlib.crc32(bytes(rest), crc)


def zip_archive(members, directory_offsets=None):
    """A zip archive of ``(name, data, crc, uncompressed size, method)`` members, written
    by hand; ``directory_offsets`` may point central directory entries anywhere."""
    body, directory = io.BytesIO(), io.BytesIO()
    offsets = []
    for name, data, crc, size, method in members:
        offsets.append(body.tell())
        raw = name.encode()
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data),
                               size, len(raw), 0) + raw + data)
    entries = ([(m, o) for m, o in zip(members, offsets)] if directory_offsets is None
               else directory_offsets)
    for (name, data, crc, size, method), offset in entries:
        raw = name.encode()
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                                    len(data), size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    start, listing = body.tell(), directory.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(listing),
                      start, 0)
    return body.getvalue() + listing + end


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, descr="<f8"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue()


def stored(name, data):
    return (name, data, zipfile.crc32(data), len(data), zipfile.ZIP_STORED)


# ---------------------------------------------------------------------------- model files
def read_file(path):
    """(metadata dict, {name: array}) of a model file."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(str(arrays.pop("metadata"))), arrays


def write_file(path, meta, arrays):
    with open(path, "wb") as file:
        np.savez(file, metadata=np.array(json.dumps(meta)), **arrays)


def edited(source, target, edit):
    meta, arrays = read_file(source)
    edit(meta, arrays)
    write_file(target, meta, arrays)
    return target


def dense(units, activation="identity"):
    return {"object": ["Dense", {"units": units, "activation": activation, "dropout": 0.0}]}


def build_hostile_files(directory):
    """{case: (path, a fragment of the expected message)}; the good files they come from."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 8)), np.arange(40) % 3
    net = fastreg.Network([fastreg.Dense(6, "relu"), fastreg.Dense(3)],
                          optimizer=fastreg.SGD(0.05, 0.9), dtype="float64", random_state=0)
    net.fit(X, y, epochs=2)
    good_net = directory / "good_network.fastreg"
    net.save(good_net)
    from fastreg import MLPClassifier

    good_clf = directory / "good_classifier.fastreg"
    MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y).save(good_clf)
    conv = fastreg.Network([fastreg.Conv1D(1, 1, padding=2**30), fastreg.Conv1D(1, 1, stride=2**31),
                            fastreg.Dense(3)], random_state=0).initialize(8)
    conv_file = directory / "conv_rows.fastreg"
    conv.save(conv_file)

    mersenne = fastreg.Network([fastreg.Dense(3)],
                               random_state=np.random.Generator(np.random.MT19937(0)))
    mersenne_file = directory / "mersenne.fastreg"
    mersenne.save(mersenne_file)

    cases = {"conv_rows": (conv_file, "values per row")}

    def case(name, message, edit, source=good_net):
        cases[name] = (edited(source, directory / f"{name}.fastreg", edit), message)

    def network(meta):
        return meta["model"]

    def rng_state(meta):
        return network(meta)["state"]["rng"]["generator"]["dict"]["state"]["dict"]

    def layers(units):
        return lambda m, a: network(m)["params"].update(layers=[dense(units, "relu"), dense(units)])

    case("claims_1e8_parameters", "expected (8, 10000)", layers(10**4))
    case("claims_1e12_parameters", "expected (8, 1000000)", layers(10**6))
    case("units_2_31", "layer 1 has 2147483648 values per row",
         lambda m, a: network(m)["params"].update(layers=[dense(6, "relu"), dense(2**31)]))
    case("n_features_1e12", "n_features_in = 1000000000000 is out of range",
         lambda m, a: network(m)["state"].update(n_features_in=10**12))
    case("steps_1e300", "steps = 1000000000000",
         lambda m, a: network(m)["state"].update(steps=10**300))
    case("negative_epochs", "epochs = -1 is out of range",
         lambda m, a: network(m)["state"].update(epochs=-1))
    case("seed_2_64", "seed = 18446744073709551616",
         lambda m, a: network(m)["state"].update(seed=2**64))
    case("weights_dtype", "has dtype float32; expected float64",
         lambda m, a: a.update({"Network.weights.0": a["Network.weights.0"].astype(np.float32)}))
    case("nan_weights", "contains NaN", lambda m, a: a["Network.weights.1"].fill(np.nan))
    case("missing_array", "does not hold", lambda m, a: a.pop("Network.biases.1"))
    case("extra_array", "unexpected arrays ['payload']", lambda m, a: a.update(payload=np.zeros(3)))
    case("shared_array", "another entry took already",
         lambda m, a: network(m)["state"]["biases"].__setitem__(1, {"array": "Network.biases.0"}))
    case("unknown_model", "unknown model class 'os.system'",
         lambda m, a: network(m).update({"class": "os.system"}))
    case("unknown_settings", "unknown settings class 'eval'",
         lambda m, a: network(m)["params"].update(optimizer={"object": ["eval", {"source": "1"}]}))
    case("bad_setting", "SGD momentum must be in [0.0, 1.0]",
         lambda m, a: network(m)["params"]["optimizer"]["object"][1].update(momentum=5.0))
    case("unknown_parameter", "unknown ['evil']", lambda m, a: network(m)["params"].update(evil=1))
    case("layers_not_a_list", "layers must be Dense or Conv1D objects",
         lambda m, a: network(m)["params"].update(layers="relu"))
    case("rng_state", "rng.state.state = -5 is out of range",
         lambda m, a: rng_state(m).update(state=-5))
    # NumPy would read past the key:
    case("mt19937_position", "rng.state.pos = 1000000 is out of range",
         lambda m, a: rng_state(m).update(pos=10**6), mersenne_file)
    case("version_1", "format version 1 is not supported", lambda m, a: m.update(format_version=1))

    def text_case(name, message, old, new):
        meta, arrays = read_file(good_net)
        text = json.dumps(meta)
        assert old in text
        with open(directory / f"{name}.fastreg", "wb") as file:
            np.savez(file, metadata=np.array(text.replace(old, new)), **arrays)
        cases[name] = (directory / f"{name}.fastreg", message)

    text_case("deep_nesting", "RecursionError", '"n_threads": null',
              '"n_threads": ' + "[" * 10**5 + "]" * 10**5)
    text_case("huge_integer", "digits", '"steps": ', '"steps": ' + "9" * 5000 + ", \"x\": ")

    def clf(m):
        return m["model"]["state"]

    case("classes_5_for_3_outputs",
         "5 classes of label type multiclass do not fit a network of 3 softmax outputs",
         lambda m, a: a.update({"MLPClassifier._label_binarizer.classes_": np.arange(5)}), good_clf)
    case("one_class_for_3_outputs", "1 classes of label type binary do not fit",
         lambda m, a: a.update({"MLPClassifier._label_binarizer.classes_": np.array(["only"])}) or
         clf(m)["_label_binarizer"]["dict"].update(y_type_="binary"), good_clf)

    def many_strings(m, a):
        a["MLPClassifier._label_binarizer.classes_"] = np.array(["a"] * (2**20 + 1))
        clf(m)["_label_binarizer"]["dict"]["classes_"] = {
            "strings": "MLPClassifier._label_binarizer.classes_"}

    case("strings_2_20", "more than 1048576 strings", many_strings, good_clf)
    case("n_iter_1e300", "n_iter_ = 1000000", lambda m, a: clf(m).update(n_iter_=10**300), good_clf)
    case("learning_rate_nan", "_learning_rate_now must be a positive finite rate",
         lambda m, a: clf(m).update(_learning_rate_now=float("nan")), good_clf)
    case("invalid_parameter", "'alpha' parameter",
         lambda m, a: m["model"]["params"].update(alpha=-1.0), good_clf)
    case("n_outputs_mismatch", "do not match the network",
         lambda m, a: clf(m).update(n_outputs_=4), good_clf)

    nested = {"class": "MLPClassifier", "params": {}, "state": None}
    for _ in range(200):
        nested = {"class": "EnsembleClassifier", "params": {"estimator": {"model": nested}},
                  "state": None}
    write_file(directory / "nested_models.fastreg",
               {"format": "fastreg", "format_version": 2, "model": nested}, {})
    cases["nested_models"] = (directory / "nested_models.fastreg",
                              "values nested more than 64 deep")

    # Sizes claimed by the archive itself.
    meta, arrays = read_file(good_net)
    members = [stored("metadata.npy", npy_bytes(np.array(json.dumps(meta))))]
    members += [stored(f"{name}.npy", npy_bytes(array)) for name, array in arrays.items()]
    bomb_name = "Network.weights.0.npy"
    n = 400_000_000  # 3.2 GB of float64 zeros
    header = npy_header((n,))
    data, crc = deflated_zeros(header, 8 * n)
    bomb = [m if m[0] != bomb_name
            else (bomb_name, data, crc, len(header) + 8 * n, zipfile.ZIP_DEFLATED)
            for m in members]
    (directory / "zip_bomb.fastreg").write_bytes(zip_archive(bomb))
    cases["zip_bomb"] = (directory / "zip_bomb.fastreg", "is compressed")
    claim = npy_header((10**12,)) + bytes(64)
    lying = [m if m[0] != bomb_name else stored(bomb_name, claim) for m in members]
    (directory / "header_claims_1e12.fastreg").write_bytes(zip_archive(lying))
    cases["header_claims_1e12"] = (directory / "header_claims_1e12.fastreg",
                                   "header describes 8000000000000 bytes")
    empty_strings = [m if m[0] != bomb_name else stored(bomb_name, npy_header((10**15,), "<U0"))
                     for m in members]
    (directory / "empty_strings.fastreg").write_bytes(zip_archive(empty_strings))
    cases["empty_strings_1e15"] = (directory / "empty_strings.fastreg", "has dtype <U0")
    big = stored("big.npy", npy_bytes(np.zeros(2**17)))  # 1 MiB, listed 1000 times more
    overlapping, entries, position = members + [big], [], 0
    for member in overlapping:
        entries.append((member, position))
        position += 30 + len(member[0]) + len(member[1])  # local header, name, data
    entries += [((f"copy{i}.npy",) + big[1:], entries[-1][1]) for i in range(1000)]
    (directory / "overlapping.fastreg").write_bytes(zip_archive(overlapping, entries))
    cases["overlapping_members"] = (directory / "overlapping.fastreg", "they overlap")
    objects = directory / "object_member.fastreg"
    with zipfile.ZipFile(objects, "w") as archive:
        archive.writestr("metadata.npy", npy_bytes(np.array(json.dumps(meta))))
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        archive.writestr("Network.weights.0.npy", buffer.getvalue())
    cases["object_member"] = (objects, "dtype object")
    garbage = directory / "garbage_metadata.fastreg"
    with zipfile.ZipFile(garbage, "w") as archive:
        archive.writestr("metadata.npy", b"garbage")
    cases["garbage_metadata"] = (garbage, "member metadata is not a valid .npy array")

    # Not model files at all.
    np.save(directory / "array.npy", np.arange(10.0))
    cases["npy"] = (directory / "array.npy", "a single NumPy array (.npy)")
    (directory / "text.txt").write_text("weights: 1 2 3\n")
    cases["text"] = (directory / "text.txt", "a text file")
    good = good_net.read_bytes()
    (directory / "truncated.fastreg").write_bytes(good[: len(good) * 2 // 3])
    cases["truncated"] = (directory / "truncated.fastreg", "truncated or not a zip archive")
    (directory / "random.bin").write_bytes(np.random.default_rng(1).bytes(4096))
    cases["random_bytes"] = (directory / "random.bin", "not a zip archive")
    (directory / "empty").write_bytes(b"")
    cases["empty"] = (directory / "empty", "it is empty")
    (directory / "pickle").write_bytes(pickle.dumps({"weights": [1, 2]}))
    cases["pickle"] = (directory / "pickle", "looks like a pickle")
    np.savez(directory / "plain.npz", weights=np.ones(3))
    cases["npz_without_metadata"] = (directory / "plain.npz", "without fastreg's metadata")
    return cases


LOAD_ALL = r'''
import resource, tracemalloc
import fastreg.estimators, fastreg.ensemble, fastreg.signal  # imported before the baseline

def vm_size():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

cap = vm_size() + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
for case, path in CASES:
    emit("begin", case=case)
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    outcome, _ = attempt(lambda: fastreg.load(path))
    emit("loaded", case=case, outcome=outcome, peak=tracemalloc.get_traced_memory()[1] - before,
         seconds=time.perf_counter() - start)
emit("rss", growth=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
'''


def test_hostile_files_are_refused_with_little_memory(tmp_path):
    cases = build_hostile_files(tmp_path)
    out = run_checked(f"CASES = {[(case, str(path)) for case, (path, _) in cases.items()]!r}\n"
                      + LOAD_ALL, timeout=300)
    failures = []
    loaded = {r["case"]: r for r in records(out, "loaded")}
    for case, (path, expected) in cases.items():
        record = loaded.get(case)
        if record is None:
            failures.append(f"{case}: no outcome")
            continue
        outcome = record["outcome"]
        if outcome["status"] != "raised" or outcome["type"] != "ValueError":
            failures.append(f"{case}: {outcome}")
        elif expected not in outcome["message"] or str(path) not in outcome["message"]:
            failures.append(f"{case}: message {outcome['message']!r} lacks {expected!r}")
        if record["peak"] > PEAK_LIMIT:
            failures.append(
                f"{case}: loading allocated {record['peak'] / 2**20:.1f} MiB at its peak")
    assert not failures, "\n".join(failures)
    growth = records(out, "rss")[0]["growth"]
    assert growth < RSS_LIMIT, f"the child's resident size grew by {growth / 2**20:.0f} MiB"


def test_the_good_files_behind_the_hostile_ones_load(tmp_path):
    """The hostile files are edits of these: they fail for their edits alone."""
    build_hostile_files(tmp_path)
    X = np.random.default_rng(0).normal(size=(5, 8))
    assert fastreg.load(tmp_path / "good_network.fastreg").predict(X).shape == (5, 3)
    assert fastreg.load(tmp_path / "good_classifier.fastreg").predict_proba(X).shape == (5, 3)
    identity = edited(tmp_path / "good_network.fastreg", tmp_path / "rewritten.fastreg",
                      lambda m, a: None)
    np.testing.assert_array_equal(fastreg.load(identity).predict(X),
                                  fastreg.load(tmp_path / "good_network.fastreg").predict(X))


FUZZ = r'''
import re
good = open(GOOD, "rb").read()
rng = np.random.default_rng(0)
# Two thirds of the changes fall in the structure: zip headers and .npy headers.
heads = [m.start() for m in re.finditer(rb"PK\x01\x02|PK\x03\x04|PK\x05\x06|\x93NUMPY", good)]
for trial in range(TRIALS):
    data = bytearray(good)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 1 / 3:
            position = rng.integers(len(data))
        else:
            position = min(len(data) - 1, heads[rng.integers(len(heads))] + rng.integers(96))
        data[position] = rng.integers(256)
    with open(PATH, "wb") as file:
        file.write(data)
    outcome, _ = attempt(lambda: fastreg.load(PATH))
    if outcome["status"] == "raised" and outcome["type"] != "ValueError":
        emit("escaped", trial=trial, outcome=outcome)
emit("done")
'''


def test_damaged_files_load_or_raise_value_error(tmp_path):
    """Bytes changed in a model file (zip headers, .npy headers, metadata, data):
    load either reads a model or raises ValueError, never anything else, never a crash."""
    build_hostile_files(tmp_path)
    out = run_checked(f"GOOD = {str(tmp_path / 'good_network.fastreg')!r}\n"
                      f"PATH = {str(tmp_path / 'damaged')!r}\nTRIALS = 1000\n" + FUZZ, timeout=300)
    assert records(out, "done"), out[-2000:]
    assert not records(out, "escaped"), records(out, "escaped")[:5]
