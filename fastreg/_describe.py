"""``repr(Network)`` and ``Network.summary()``: a network described in words and a table."""
import dataclasses
import inspect

import numpy as np

from fastreg.layers import Conv1D

#: The function the loss puts on the output layer.
OUTPUT_FUNCTIONS = {"softmax_cross_entropy": "softmax", "logistic_cross_entropy": "sigmoid",
                    "squared_error": "identity", "poisson": "exp"}


def _differs(value, default):
    try:
        return bool(value != default)
    except Exception:  # an object that does not compare to a plain value: show it
        return True


def compact_repr(value):
    """``repr`` of settings objects with only what differs from their defaults:
    ``Dense(100, activation='relu')``, ``SGD(momentum=0.9)``, ``[L2(0.0001)]``."""
    if isinstance(value, list):
        return "[" + ", ".join(compact_repr(item) for item in value) + "]"
    if isinstance(value, tuple):
        items = [compact_repr(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        arguments = []
        for field in dataclasses.fields(value):
            current = getattr(value, field.name)
            required = (field.default is dataclasses.MISSING
                        and field.default_factory is dataclasses.MISSING)
            if required:  # required fields come first: positional
                arguments.append(compact_repr(current))
            elif field.default is dataclasses.MISSING or _differs(current, field.default):
                arguments.append(f"{field.name}={compact_repr(current)}")
        return f"{type(value).__name__}({', '.join(arguments)})"
    return repr(value)


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except TypeError:
        return dtype


def network_repr(network):
    """``Network([...layers], setting=value, ...)`` with the settings that differ from
    the constructor's defaults (the optimizer when it is not ``SGD()``)."""
    from fastreg.optimizers import SGD

    parameters = list(inspect.signature(type(network)).parameters.values())
    layers = network.layers
    parts = [compact_repr(list(layers) if isinstance(layers, (list, tuple)) else layers)]
    for parameter in parameters[1:]:
        name = parameter.name
        value = getattr(network, name, parameter.default)
        default = parameter.default
        if name == "optimizer":
            default = SGD()
        elif name == "regularizers" and isinstance(value, tuple):
            value, default = list(value), []
        elif name == "dtype":
            value = _dtype_name(value)
        if _differs(value, default):
            parts.append(f"{name}={compact_repr(value)}")
    return f"{type(network).__name__}({', '.join(parts)})"


def _count(value):
    return "?" if value is None else f"{value:,}"


def _shape(shape):
    return "(" + ", ".join("?" if n is None else str(n) for n in shape) + (
        ",)" if len(shape) == 1 else ")")


def _layer_rows(network, n_features):
    """Per layer: (name, width, activation, dropout, output shape, parameter count), the
    counts None where they depend on an unknown number of input features."""
    if n_features is not None:
        shapes, convolutions = network._geometry(n_features)
    else:
        shapes, convolutions = [None] * len(network.layers), [None] * len(network.layers)
    rows = []
    channels, width = 1, n_features  # what the next layer gets (channels of a signal)
    last = len(network.layers) - 1
    for i, (layer, shape, geometry) in enumerate(zip(network.layers, shapes, convolutions)):
        if isinstance(layer, Conv1D):
            options = [f"kernel_size={layer.kernel_size}"]
            options += [f"{name}={getattr(layer, name)}" for name in ("stride", "padding")
                        if getattr(layer, name) != {"stride": 1, "padding": 0}[name]]
            name = f"Conv1D({', '.join(options)})"
            fan_in = layer.kernel_size * channels
            count = fan_in * layer.channels + layer.channels
            out_length = None if geometry is None else geometry[3]
            output = (out_length, layer.channels)
            units = f"{layer.channels} ch"
            channels = layer.channels
            width = None if out_length is None else out_length * channels
        else:
            name = "Dense (output)" if i == last else "Dense"
            count = None if width is None else width * layer.units + layer.units
            output = (layer.units,)
            units = str(layer.units)
            width = layer.units
        if shape is not None:  # the engine's own geometry, when it is known
            count = shape[0] * shape[1] + shape[1]
        activation = layer.activation
        if i == last:
            activation = f"{OUTPUT_FUNCTIONS.get(network.loss, '?')} (loss)"
        rows.append((str(i), name, units, activation, f"{layer.dropout:g}", _shape(output),
                     count))
    return rows


def network_summary(network, n_features=None):
    """The table and settings of :meth:`Network.summary`."""
    from fastreg._validation import check_integer

    settings = network._checked_settings()
    built = network.n_features_in_
    if n_features is not None:
        n_features = check_integer(n_features, "n_features")
        if built is not None and n_features != built:
            raise ValueError(f"n_features is {n_features} but this network was built for "
                             f"n_features_in_={built} inputs.")
    else:
        n_features = built
    dtype = np.dtype(settings["dtype"]).name
    rows = [("", "Input", _count(n_features), "", f"{settings['input_dropout']:g}",
             _shape((n_features,)), 0)]
    rows += _layer_rows(network, n_features)
    counts = [row[-1] for row in rows]
    header = ("#", "Layer", "Units", "Activation", "Dropout", "Output shape", "Parameters")
    table = [header] + [row[:-1] + (_count(row[-1]),) for row in rows]
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]
    right = {0, 2, 6}  # numbers to the right

    def line(cells):
        return "  ".join(cell.rjust(w) if k in right else cell.ljust(w)
                         for k, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(line(header))
    total = None if None in counts else sum(counts)
    out = [f"Network: {len(network.layers)} layers, {dtype}", rule, line(header), rule]
    out += [line(cells) for cells in table[1:]]
    out.append(rule)
    out.append(f"Trainable parameters: {_count(total)}")
    if total is None:
        out.append("  (the shapes, and the parameters that depend on the number of input\n"
                   "  features, are known after the first fit, or with summary(n_features=...))")
    regularizers = network.regularizers
    noise = ", ".join(f"{name} {settings[name]:g}" for name in (
        "input_dropout", "input_noise", "weight_noise", "label_noise", "label_smoothing"))
    out += [
        f"Loss: {network.loss} (output function {OUTPUT_FUNCTIONS[network.loss]})",
        f"Optimizer: {compact_repr(network.optimizer)}",
        "Regularizers: " + (", ".join(compact_repr(r) for r in regularizers)
                            if regularizers else "none"),
        f"Noise: {noise}",
        f"Dropout mode: {network.dropout_mode}",
    ]
    if network.averaging is not None:
        out.append(f"Averaging: {compact_repr(network.averaging)}")
    if network.augment is not None:
        out.append(f"Augment: {compact_repr(network.augment)}")
    out.append(f"dtype: {dtype}")
    if built is not None:
        out.append(f"Trained: {network.epochs_} epochs, {network.steps_:,} steps")
    return "\n".join(out)
