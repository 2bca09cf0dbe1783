"""fastreg's own model files: NumPy arrays plus JSON metadata, never pickle.

A model file is a zip archive of ``.npy`` members stored uncompressed (an ``.npz`` that
``numpy.load`` can also read). Its ``metadata`` member is a JSON text (a 0-d unicode
array): the format's name and version, and the model as its class name, its constructor's
arguments (``params``) and what fitting made of it (``state``, None before any fit). Those
values are JSON numbers, text, lists and ``null``, or objects of one key:
``{"tuple": [...]}``, ``{"dict": {...}}``, ``{"array": member}`` (``{"strings": member}``
for an object array of str), ``{"object": [class, {argument: value}]}`` for fastreg's
settings (layers, optimizers, regularizers, averaging, the built-in augmentations,
stopping criteria), ``{"generator": state}`` and ``{"random_state": state}`` for NumPy's
random generators, and ``{"model": {"class", "params", "state"}}`` for a model inside
another (an ensemble's members, an estimator's network).

What a model stores is its class's own business: every saveable class has ``_save_state()``
returning ``(params, state)`` and a class method ``_load_state(params, state)`` rebuilding
the model, checking every value it is given (see :mod:`fastreg._state`). This module
writes and reads the values and knows nothing of the classes' insides.

Saving refuses, naming it, any value it cannot store: a callable of the user's own (an
``augment`` function, a learning-rate schedule), a subclass, an object of another
library. Loading trusts nothing: before any array is read it checks the zip directory
(unique plain names, no compression, members within the file and not overlapping) and
every member's ``.npy`` header (a plain numeric or text dtype, a shape whose bytes are
exactly the member's), so that no claim in a file can make load allocate more than the
file's own bytes (and a small multiple of them for JSON values and at most
``MAX_STRINGS`` strings an array); it then builds only the classes listed here, through
their constructors, and each class checks shapes, counts (below 2**63) and consistency
before it uses anything, a network also the size of its rows (``_state.MAX_ROW_VALUES``),
which its engine's buffers take. Every problem is a ValueError that names the file.
"""
import importlib
import inspect
import io
import json
import os
import re
import struct
import tokenize
import zipfile

import numpy as np

from fastreg import _state
from fastreg._extras import install_hint
from fastreg._state import InvalidState
from fastreg.augment import Compose, Jitter, RandomFlip, RandomScale, RandomShift
from fastreg.averaging import EMA, SWA
from fastreg.early_stopping import GeneralizationLoss, Patience, ProgressQuotient, UpStrips
from fastreg.layers import Conv1D, Dense
from fastreg.optimizers import SGD, Adam, AdamW
from fastreg.regularizers import L1, L2, ElasticNet, MaxNorm, WeightDecay

FORMAT_NAME = "fastreg"
FORMAT_VERSION = 2
METADATA = "metadata"

#: The classes a file may hold as a model, and their modules (imported when needed: the
#: estimators need scikit-learn).
MODELS = {
    "Network": "fastreg.network",
    "MLPClassifier": "fastreg.estimators",
    "MLPRegressor": "fastreg.estimators",
    "Conv1DClassifier": "fastreg.signal",
    "EnsembleClassifier": "fastreg.ensemble",
    "EnsembleRegressor": "fastreg.ensemble",
    "TabularModel": "fastreg.tabular",
}

#: fastreg's settings objects: built from their constructor's arguments, which are
#: attributes of the same names.
SETTINGS = {cls.__name__: cls for cls in (
    Dense, Conv1D, SGD, Adam, AdamW, L2, L1, ElasticNet, WeightDecay, MaxNorm, EMA, SWA,
    RandomShift, RandomScale, Jitter, RandomFlip, Compose,
    Patience, GeneralizationLoss, ProgressQuotient, UpStrips,
)}

#: NumPy's bit generators, by the name their state carries.
BIT_GENERATORS = {cls.__name__: cls for cls in (
    np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64,
)}

#: Each bit generator's state, checked entry by entry before NumPy takes it (NumPy does not
#: check all of it: an MT19937 position past its key reads outside it): an int n is an
#: integer in [0, n), a pair an array of that length and dtype, a type a value of it.
_PCG_STATE = {"state": {"state": 2**128, "inc": 2**128}, "has_uint32": 2, "uinteger": 2**32}
GENERATOR_STATES = {
    "PCG64": _PCG_STATE,
    "PCG64DXSM": _PCG_STATE,
    "MT19937": {"state": {"key": (624, np.uint32), "pos": 625}},
    "Philox": {"state": {"counter": (4, np.uint64), "key": (2, np.uint64)},
               "buffer": (4, np.uint64), "buffer_pos": 5, "has_uint32": 2, "uinteger": 2**32},
    "SFC64": {"state": {"state": (4, np.uint64)}, "has_uint32": 2, "uinteger": 2**32},
}
#: What a RandomState adds to its bit generator's state.
RANDOM_STATE_EXTRA = {"has_gauss": 2, "gauss": float}

#: Array dtypes a file may hold: booleans, integers, floats, unicode text.
ARRAY_KINDS = "biufU"

#: Most items of an array of strings (class labels, feature names): each becomes a Python
#: str, some 60 bytes for the 4 of a one-letter item in the file.
MAX_STRINGS = 2**20

#: Deepest nesting of values (an ensemble of estimators holding networks needs about 12).
MAX_DEPTH = 64

_MEMBER_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}\.npy")

#: What reading a damaged zip member or .npy header may raise (zipfile, numpy's header parser).
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, TypeError,
            SyntaxError, OverflowError, NotImplementedError, struct.error, tokenize.TokenError)


class _NotModelFile(ValueError):
    """The file is not a fastreg model file at all (not a zip archive of .npy members)."""


def _model_class_name(value):
    """The name under MODELS of ``value``'s class, or None when it is not one of them."""
    cls = type(value)
    if MODELS.get(cls.__name__) == cls.__module__:
        return cls.__name__
    return None


def _settings_arguments(cls):
    return list(inspect.signature(cls).parameters)


# ---------------------------------------------------------------------- saving
class _Writer:
    """Turns a model into JSON-ready values and a dict of arrays."""

    def __init__(self):
        self.arrays = {}

    def model(self, model, where):
        name = _model_class_name(model)
        params, state = model._save_state()
        return {
            "class": name,
            "params": {key: self.value(value, f"{where}.{key}") for key, value in params.items()},
            "state": None if state is None else {
                key: self.value(value, f"{where}.{key}") for key, value in state.items()},
        }

    def value(self, value, where, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError(f"{where} is nested too deeply to be saved.")
        if isinstance(value, np.generic) and value.dtype.kind in "biufU":
            value = value.item()
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, list):
            return [self.value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        if type(value) is tuple:
            return {"tuple": [self.value(item, f"{where}[{i}]", depth + 1)
                              for i, item in enumerate(value)]}
        if type(value) is dict:
            if not all(isinstance(key, str) for key in value):
                raise ValueError(
                    f"{where} is a dict whose keys are not all strings: it cannot be saved."
                )
            return {"dict": {key: self.value(item, f"{where}.{key}", depth + 1)
                             for key, item in value.items()}}
        if type(value) is np.ndarray:
            return self.array(value, where)
        if type(value) is np.random.Generator:
            return {"generator": self.value(value.bit_generator.state, f"{where}.state", depth + 1)}
        if type(value) is np.random.RandomState:
            return {"random_state": self.value(value.get_state(legacy=False), f"{where}.state",
                                               depth + 1)}
        if _model_class_name(value) is not None:
            return {"model": self.model(value, where)}
        cls = SETTINGS.get(type(value).__name__)
        if cls is not None and type(value) is cls:
            arguments = {name: self.value(getattr(value, name), f"{where}.{name}", depth + 1)
                         for name in _settings_arguments(cls)}
            return {"object": [cls.__name__, arguments]}
        raise ValueError(
            f"{where} = {_short_repr(value)} cannot be saved in a fastreg file: it holds numbers, "
            "text, arrays and fastreg's own settings (layers, optimizers with a constant "
            "learning rate, regularizers, EMA/SWA, fastreg.augment's built-ins, stopping "
            "criteria, estimators), never code. Set it to one of those (or None) before saving, "
            "and back after loading."
        )

    def array(self, array, where):
        if array.dtype == object:
            if not all(isinstance(item, str) for item in array.flat):
                raise ValueError(f"{where} is an object array of other things than str: "
                                 "it cannot be saved.")
            kind, array = "strings", array.astype(str)
        else:
            kind = "array"
            if array.dtype.kind not in ARRAY_KINDS or array.dtype.names is not None:
                raise ValueError(f"{where} is an array of dtype {array.dtype}: it cannot be saved.")
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", where.replace("[", ".").replace("]", ""))[:180]
        unique, n = name, 1
        while unique in self.arrays or unique == METADATA:
            unique, n = f"{name}.{n}", n + 1
        self.arrays[unique] = array
        return {kind: unique}


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def save(model, path):
    """Write a fastreg model to ``path`` in fastreg's own file format, without pickle.

    Every constructor argument is stored, and everything fitting made of the model: its
    weights, the optimizer's state, weight averages, counters, histories and the state of
    every random generator. The model that :func:`load` reads back predicts the same and
    trains on to the same bits.

    Parameters
    ----------
    model : fastreg model
        A Network, MLPClassifier, MLPRegressor, Conv1DClassifier, EnsembleClassifier,
        EnsembleRegressor or TabularModel (its preprocessing included), fitted or not.
    path : str or path-like
        Destination file; it is written as given (no extension is added).

    Raises
    ------
    ValueError
        When a setting cannot be stored, naming it: a callable of your own (an
        ``augment`` function, a learning-rate schedule, a stopping criterion class of your
        own), an estimator or cross-validation object of another library. Nothing is
        written then.
    TypeError
        When ``model`` is not one of the classes above.

    See Also
    --------
    load : Read the model back.
    """
    name = _model_class_name(model)
    if name is None:
        raise TypeError(f"save takes a fastreg {', '.join(MODELS)}; got {type(model).__name__}.")
    writer = _Writer()
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "model": writer.model(model, name)}
    text = json.dumps(meta, allow_nan=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member, array in [(METADATA, np.array(text))] + list(writer.arrays.items()):
            with archive.open(member + ".npy", "w", force_zip64=True) as file:
                np.lib.format.write_array(file, array, allow_pickle=False)


# ---------------------------------------------------------------------- reading the archive
def _kind_of_file(head):
    """What a file that is not a zip archive seems to be, from its first bytes."""
    if not head:
        return "it is empty"
    if head.startswith(b"\x93NUMPY"):
        return ("it is a single NumPy array (.npy), not a model: fastreg.save writes a zip "
                "archive of arrays and metadata (.npz)")
    if head[:1] == b"\x80":
        return "it looks like a pickle, which fastreg never reads"
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return "it is a text file, not a zip archive of arrays as fastreg.save writes"
    return "it is not a zip archive (fastreg.save writes a zip archive of .npy arrays)"


class _Archive:
    """A model file's zip directory and .npy headers, checked before any array is read."""

    def __init__(self, file, size):
        try:
            self.zip = zipfile.ZipFile(file)
            infos = self.zip.infolist()
        except _CORRUPT as error:
            raise _NotModelFile(f"it is truncated or not a zip archive ({error})") from None
        if METADATA + ".npy" not in [info.filename for info in infos]:
            raise _NotModelFile(f"it is a zip archive without fastreg's metadata ({METADATA}.npy)")
        self.headers = {}
        total = 0
        for info in infos:
            name = info.filename
            if not _MEMBER_NAME.fullmatch(name):
                raise InvalidState(
                    f"member {_short_repr(name)} is not a .npy array of a plain name."
                )
            if name[:-4] in self.headers:
                raise InvalidState(f"member {name} appears twice.")
            if info.flag_bits & 0x1:
                raise InvalidState(f"member {name} is encrypted.")
            if info.compress_type != zipfile.ZIP_STORED:
                raise InvalidState(
                    f"member {name} is compressed; fastreg files store their arrays uncompressed, "
                    "so that no member may claim more memory than the file's own bytes.")
            if (info.compress_size != info.file_size
                    or info.header_offset + info.compress_size > size):
                raise InvalidState(f"member {name} claims {info.file_size} bytes, "
                                   "which the file does not hold.")
            total += info.compress_size
            self.headers[name[:-4]] = info
        if total > size:
            raise InvalidState(f"the members claim {total} bytes in all, "
                               f"more than the file's {size}: they overlap.")
        for name, info in self.headers.items():
            self.headers[name] = self._header(name, info)

    def _header(self, name, info):
        """(info, shape, fortran_order, dtype, data offset), the data's size checked."""
        try:
            with self.zip.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f".npy format version {version} is not read here")
                offset = member.tell()
        except _CORRUPT as error:
            raise InvalidState(f"member {name} is not a valid .npy array: {error}") from None
        if (dtype.hasobject or dtype.names is not None or dtype.subdtype is not None
                or dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0):
            raise InvalidState(f"member {name} has dtype {dtype}: "
                               "a model file holds numbers and text only.")
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            raise InvalidState(f"member {name} has the invalid shape {shape}.")
        nbytes = dtype.itemsize * _product(shape)
        if offset + nbytes != info.file_size:
            raise InvalidState(
                f"member {name}'s header describes {nbytes} bytes of data (shape {shape}, "
                f"{dtype}), but it holds {info.file_size - offset}.")
        return info, shape, fortran, dtype, offset

    def read(self, name, where):
        """The array ``name``, each at most once; its size was checked with its header."""
        entry = self.headers.pop(name, None)
        if not isinstance(entry, tuple):
            raise InvalidState(f"{where} refers to array {_short_repr(name)}, "
                               "which the file does not hold "
                               "(or which another entry took already).")
        info, shape, fortran, dtype, offset = entry
        array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        try:
            with self.zip.open(info) as member:
                member.read(offset)
                buffer = memoryview(array.reshape(-1).view(np.uint8))
                filled = 0
                while filled < len(buffer):
                    count = member.readinto(buffer[filled:])
                    if not count:
                        raise InvalidState(f"array {name} is truncated.")
                    filled += count
                if member.read(1):  # also makes zipfile compare the member's checksum
                    raise InvalidState(f"array {name} is longer than its header says.")
        except InvalidState:
            raise
        except _CORRUPT as error:
            raise InvalidState(f"array {name} cannot be read: {error}") from None
        return array.T if fortran else array

    def items(self, name):
        """The number of items the header of array ``name`` announces (0 if there is none)."""
        entry = self.headers.get(name)
        return _product(entry[1]) if isinstance(entry, tuple) else 0

    def unread(self):
        return sorted(self.headers)


def _product(shape):
    result = 1
    for n in shape:
        result *= n
    return result


# ---------------------------------------------------------------------- decoding
class _Reader:
    """Turns a file's JSON values back into Python values, settings objects and models."""

    def __init__(self, archive):
        self.archive = archive

    def model(self, entry, where, depth=0):
        entry = _state.keys(entry, ("class", "params", "state"), f"{where}: model entry")
        name = entry["class"]
        if not isinstance(name, str) or name not in MODELS:
            raise InvalidState(f"{where}: unknown model class {_short_repr(name)} "
                               f"(a file holds {sorted(MODELS)}).")
        try:
            cls = getattr(importlib.import_module(MODELS[name]), name)
        except ImportError as error:
            if not (error.name or "").startswith("sklearn"):
                raise
            raise ImportError(f"the file holds a {name}, which needs scikit-learn: "
                              f"{install_hint('sklearn')}") from error
        params = self.value(entry["params"], f"{where}.params", depth + 1, raw_dict=True)
        state = self.value(entry["state"], f"{where}.state", depth + 1, raw_dict=True)
        if not isinstance(params, dict) or not (state is None or isinstance(state, dict)):
            raise InvalidState(f"{where}: params and state must be mappings.")
        try:
            return cls._load_state(params, state)
        except InvalidState as error:
            raise InvalidState(f"{where} ({name}): {error}") from None
        except (ValueError, TypeError) as error:
            raise InvalidState(f"{where} ({name}): {type(error).__name__}: {error}") from None

    def value(self, value, where, depth=0, raw_dict=False):
        if depth > MAX_DEPTH:
            raise InvalidState(f"values nested more than {MAX_DEPTH} deep ({where[:60]}...).")
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, list):
            return [self.value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        if not isinstance(value, dict):
            raise InvalidState(f"{where} has an unexpected type.")
        if raw_dict:  # a model's params or state: a mapping of names
            return {key: self.value(item, f"{where}.{key}", depth + 1)
                    for key, item in value.items()}
        if len(value) != 1:
            raise InvalidState(f"{where} is a JSON object with other than one key.")
        (tag, content), = value.items()
        if tag == "tuple" and isinstance(content, list):
            return tuple(self.value(content, where, depth + 1))
        if tag == "dict" and isinstance(content, dict):
            return {key: self.value(item, f"{where}.{key}", depth + 1)
                    for key, item in content.items()}
        if tag in ("array", "strings") and isinstance(content, str):
            if tag == "strings" and self.archive.items(content) > MAX_STRINGS:
                raise InvalidState(f"{where}: more than {MAX_STRINGS} strings.")
            array = self.archive.read(content, where)
            if tag == "strings":
                if array.dtype.kind != "U":
                    raise InvalidState(
                        f"{where}: strings stored in an array of dtype {array.dtype}."
                    )
                array = array.astype(object)
            return array
        if tag in ("generator", "random_state") and isinstance(content, dict):
            return self.generator(tag, self.value(content, where, depth + 1), where)
        if tag == "object" and isinstance(content, list) and len(content) == 2:
            name, arguments = content
            cls = SETTINGS.get(name) if isinstance(name, str) else None
            if cls is None:
                raise InvalidState(f"{where}: unknown settings class {_short_repr(name)}.")
            arguments = (self.value(arguments, where, depth + 1, raw_dict=True)
                         if isinstance(arguments, dict) else None)
            if arguments is None or set(arguments) != set(_settings_arguments(cls)):
                raise InvalidState(
                    f"{where}: {name} needs the arguments {_settings_arguments(cls)}."
                )
            try:
                return cls(**arguments)
            except (ValueError, TypeError) as error:
                raise InvalidState(f"{where}: {error}") from None
        if tag == "model" and isinstance(content, dict):
            return self.model(content, where, depth + 1)
        raise InvalidState(f"{where}: unknown or malformed entry {_short_repr(tag)}.")

    @staticmethod
    def generator(tag, state, where):
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in BIT_GENERATORS:
            raise InvalidState(f"{where}: unknown bit generator {_short_repr(name)}.")
        schema = {"bit_generator": str, **GENERATOR_STATES[name]}
        _check_schema(state, schema if tag == "generator" else {**schema, **RANDOM_STATE_EXTRA},
                      f"{where}")
        try:
            if tag == "generator":
                bit_generator = BIT_GENERATORS[name]()
                bit_generator.state = state
                return np.random.Generator(bit_generator)
            random_state = np.random.RandomState(BIT_GENERATORS[name]())
            random_state.set_state(state)
            return random_state
        except (ValueError, TypeError, KeyError, OverflowError) as error:
            raise InvalidState(f"{where}: invalid generator state "
                               f"({type(error).__name__}: {error}).") from None


def _check_schema(value, schema, where):
    """``value`` as ``schema`` describes it (see GENERATOR_STATES)."""
    if isinstance(schema, dict):
        _state.keys(value, schema, where)
        for key, entry in schema.items():
            _check_schema(value[key], entry, f"{where}.{key}")
    elif isinstance(schema, tuple):
        _state.array(value, where, shape=(schema[0],), dtype=schema[1])
    elif isinstance(schema, int):
        _state.integer(value, where, 0, schema - 1)
    else:
        _state.instance(value, schema, where)


# ---------------------------------------------------------------------- loading
def load(path):
    """Read a model written by :func:`save`.

    The file is checked before anything is built from it: the zip directory and each
    array's header against the file's real size (a member may not claim more bytes than
    the file holds, nor be compressed), then every setting through the constructors, and
    every array's shape, every count and the model's consistency (its classes and its
    outputs, say) by the model's class. Nothing in a file is ever executed or imported.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    fastreg model
        The model as it was saved: a Network, MLPClassifier, MLPRegressor, Conv1DClassifier,
        EnsembleClassifier, EnsembleRegressor or TabularModel (all but the Network need
        scikit-learn installed).

    Raises
    ------
    ValueError
        When the file is not a fastreg model file (a single ``.npy`` array, a text file,
        a truncated file, ...) or was written in another format version, or when any of
        its content is malformed, inconsistent or out of range; the message names the
        file and what is wrong.
    FileNotFoundError, IsADirectoryError, PermissionError
        When the file cannot be opened.

    See Also
    --------
    save : Write a model.
    """
    shown = os.fspath(path)
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        head = file.read(64)
        file.seek(0)
        try:
            if not head.startswith(b"PK"):
                raise _NotModelFile(_kind_of_file(head))
            archive = _Archive(file, size)
            return _load_archive(archive)
        except _NotModelFile as error:
            raise ValueError(f"{shown} is not a fastreg model file: {error}.") from None
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError, EOFError,
                zipfile.BadZipFile, struct.error, io.UnsupportedOperation) as error:
            message = (str(error) if isinstance(error, InvalidState)
                       else f"{type(error).__name__}: {error}")
            raise ValueError(f"{shown} is not a valid fastreg model file: {message}") from None


def _load_archive(archive):
    metadata = archive.read(METADATA, "metadata")
    if metadata.shape != () or metadata.dtype.kind != "U":
        raise InvalidState("the metadata is not a text.")
    meta = json.loads(str(metadata[()]))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _NotModelFile("its metadata does not name the fastreg format")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidState(f"format version {_short_repr(version)} is not supported "
                           f"(this fastreg reads version {FORMAT_VERSION}).")
    _state.keys(meta, ("format", "format_version", "model"), "the metadata")
    model = _Reader(archive).model(meta["model"], "model")
    if archive.unread():
        raise InvalidState(f"unexpected arrays {archive.unread()[:10]}.")
    return model
