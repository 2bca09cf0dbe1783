"""The training engine: a workspace made once per model and a whole epoch without the GIL.

``Engine`` owns pointers to the model's parameters and optimizer state (NumPy arrays that
the Python layer owns and keeps alive) and allocates every buffer a training step needs
(the batch, activations, deltas, gradients, dropout masks) once, for the largest batch.
``train_epoch`` then runs shuffle -> gather -> forward -> loss -> backward -> update for
every minibatch inside ``with nogil`` and allocates nothing. One OpenMP team of threads,
started once per epoch, shares every step (``_team_step`` says how); its threads meet at
barriers, never forking and joining per product.

Nothing here validates its input: ``fastreg.network`` checks dtypes, shapes, contiguity,
finiteness and parameter ranges before an ``Engine`` is made or called.

Randomness (shuffling, dropout masks, input noise) comes from the counter-based streams
of ``_random``: keyed by (seed, purpose, epoch or step, layer), indexed by position, so a
run is bit-for-bit reproducible from its seed.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, threadid
from libc.math cimport INFINITY, pow, sqrt
from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from fastreg._blas cimport gemm_block, gemm_block_count, gemm_blocked, sum_of_squares
from fastreg._dense cimport activation_derivative, bias_activation_dropout, column_sums
from fastreg._loss cimport loss_gradient, output_activation
from fastreg._loss cimport LOGISTIC_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY
from fastreg._random cimport (DROPOUT_STREAM, INPUT_NOISE_STREAM, LABEL_NOISE_STREAM,
                              SHUFFLE_STREAM, WEIGHT_NOISE_STREAM, fill_keep_mask,
                              keep_threshold, random_bits, shuffle_indices,
                              standard_normal, stream_key, uniform_open)
from fastreg._update cimport ADAM, StepRule, clip_column_norms, update_parameters

cdef extern from "_team.h" nogil:
    void team_barrier(int team, double* waited)  # the team meets; *waited += this wait
    void team_park(int team)  # the team meets, untimed
    double team_clock()     # seconds, monotonic
    double team_read(const double* x)  # a counter another thread may be adding to
    int team_size()         # the number of threads of that region
    int team_next(int* counter)  # atomically: return the counter, then add one
    int openmp_thread_limit()    # omp_get_max_threads() of the calling thread

cdef enum:
    LOSS_CHUNKS = 2         # a batch's loss is summed over this many row chunks, in order
    MIN_TEAM_WORK = 1 << 17 # steps of fewer multiply-adds run on one thread
    MAX_TEAM = 64           # threads of a team at most
    WAIT_STRIDE = 8         # a thread's wait counter is a cache line from the next one's

# Seconds of training (see Engine's team review).
cdef double MIN_SOLO_SECONDS = 0.1   # one thread's turn after it won: doubling while it wins,
cdef double MAX_SOLO_SECONDS = 3.2   # up to this
cdef double MIN_TRIAL_SECONDS = 0.5   # between trials of one thread: doubling while the team
cdef double MAX_TRIAL_SECONDS = 8.0   # wins, up to this
cdef double VERDICT_SECONDS = 5.0     # how long (wall clock) a review's verdict serves others


cdef struct TeamVerdict:
    int64_t work_per_step   # multiply-adds of a step's forward pass, 0: no verdict yet
    double solo_cost        # seconds per sample on one thread
    double team_cost        # seconds per sample on the team
    double time             # team_clock() of the review

# The last comparison of one thread with the team in this process. An engine with steps of
# the same size (the next fold of a cross-validation, the next fit of a search) starts
# from it instead of timing one thread again: many fits are too short to time it. Engines
# training in several Python threads may write it at once; it is only where a review starts.
cdef TeamVerdict last_verdict


cdef struct DenseLayer:
    int n_in                    # input features per sample (conv: in_length * in_channels)
    int n_out                   # output features per sample (conv: out_length * out_channels)
    int weight_rows             # W is (weight_rows, weight_cols): (n_in, n_out) for a dense
    int weight_cols             # layer, (kernel * in_channels, out_channels) for a convolution
    bint is_conv
    int in_channels             # convolution geometry; activations are channels-last,
    int in_length               # (batch, length, channels) in row-major order
    int out_channels
    int out_length
    int kernel
    int stride
    int padding
    void* cols                  # conv: (batch * out_length, kernel * in_channels) input patches
    void* cols_delta            # conv: the gradient with respect to those patches
    int activation
    double keep                 # probability of keeping a unit of the output (1: no dropout)
    void* weights               # (n_in, n_out)
    void* bias                  # (n_out,)
    void* grad_weights
    void* grad_bias
    void* weights_state1        # momentum velocity or Adam first moment (NULL for SGD)
    void* weights_state2        # Adam second moment (NULL otherwise)
    void* bias_state1
    void* bias_state2
    void* average_weights       # exponential moving average of the weights (NULL: off)
    void* average_bias
    void* saved_weights         # (n_in, n_out): the clean weights during a weight-noise step
    void* out                   # (batch, n_out): activations; the output layer's become delta
    void* delta                 # (batch, n_out): hidden layers only
    unsigned char* mask         # (batch, n_out): dropout keep-mask, or NULL


cdef inline void* address(object array) except NULL:
    """The data pointer of a NumPy array (which the caller keeps alive)."""
    return <void*> <uintptr_t> array.__array_interface__["data"][0]


cdef inline void* optional_address(object array):
    return NULL if array is None else <void*> <uintptr_t> array.__array_interface__["data"][0]


cdef class Engine:
    """Workspace and training loop of one network (see the module docstring).

    Parameters
    ----------
    weights, biases : list of ndarray
        Parameter arrays, C-contiguous, one dtype (float32 or float64), updated in place.
    optimizer_state : list of tuple
        Per layer ``(w1, w2, b1, b2)``: optimizer state arrays shaped like the weights and
        biases, or None where the optimizer keeps no such state.
    activations : list of int
        Activation code of each hidden layer (see ``_dense.Activation``).
    keep : list of float
        Keep probability of each hidden layer's output.
    input_keep : float
        Keep probability of each input feature.
    config : dict
        ``loss``, ``label_smoothing``, ``inverted_dropout``, ``input_noise``, ``optimizer``,
        ``momentum``, ``beta1``, ``beta2``, ``epsilon``, ``alpha``, ``weight_decay``,
        ``l1``, ``max_norm`` (0: off), ``seed``, ``step``, ``n_threads`` (the size of the
        team that shares each training step; see ``_team_step``), ``label_noise``,
        ``weight_noise``, ``augment`` (a callable or None) and ``augment_rng`` (its Generator).
    batch_size : int
        Largest number of rows a step will see.
    """
    cdef DenseLayer* layers
    cdef readonly int n_layers
    cdef readonly int n_features
    cdef readonly int n_outputs
    cdef readonly int batch_size
    cdef bint single_precision
    cdef int loss
    cdef double label_smoothing
    cdef bint inverted_dropout
    cdef double input_keep
    cdef double input_noise
    cdef double label_noise
    cdef double weight_noise
    cdef double average_decay
    cdef object augment
    cdef object augment_rng
    cdef object augment_error
    cdef object batch_x_array
    cdef StepRule rule
    cdef double alpha
    cdef double weight_decay
    cdef double l1
    cdef double max_norm
    cdef uint64_t seed
    cdef public int n_threads
    cdef public int64_t step
    cdef void* batch_x
    cdef void* batch_y
    cdef void* batch_weight
    cdef unsigned char* input_mask
    cdef double* column_norms
    cdef double* squares            # ||W_l||^2 of each layer, recorded during a step
    cdef int* task_counters         # the next task of each phase of a step (2 per layer)
    cdef double partial_loss[LOSS_CHUNKS]
    cdef bint stop                  # set when the augment hook failed: the team stops
    # The team reviews itself every `team_window` seconds of training (the engine's clock
    # runs only during epochs). It hands the steps to one thread, the others parked, when
    # a thread waited more than `team_wait_limit` of the window for the others (the cores
    # are shared with other work), or when one thread alone trained faster than the team
    # by more than `solo_advantage` (the cores are far apart, the steps too small). Every
    # `trial_interval` seconds one window runs on one thread, to time it. The turns of one
    # thread double while it wins, the intervals between trials while the team wins. The
    # result does not change, only the time it takes.
    cdef public double team_window
    cdef public double team_wait_limit
    cdef public double solo_advantage
    cdef public double trial_interval
    cdef readonly bint solo         # the steps run on thread 0, the others parked
    cdef bint hand_over             # `solo` as thread 0 last told the team, before a gather
    cdef readonly int64_t solo_steps  # steps run on one thread while a team was there
    cdef readonly double clock      # seconds of training with a team at hand
    cdef double segment_start       # team_clock() when the clock last advanced
    cdef double solo_until          # clock before which the steps stay on one thread
    cdef double solo_backoff
    cdef double solo_cost           # seconds per sample on one thread, last timed
    cdef double solo_cost_time      # clock when it was timed
    cdef bint compare_pending       # the next team window is compared with solo_cost
    cdef double window_start        # clock when the current window began
    cdef int64_t window_samples     # samples trained since then
    cdef int64_t resume_start       # where parked threads take up the epoch again
    cdef double waited[MAX_TEAM * WAIT_STRIDE]  # seconds each thread waited at barriers
    cdef double waited_before[MAX_TEAM]  # each thread's count when the window began
    cdef int64_t work_per_sample    # multiply-adds of one sample's forward pass
    cdef object order
    cdef list buffers
    cdef list grad_weight_arrays
    cdef list grad_bias_arrays

    def __cinit__(self):
        self.layers = NULL
        self.column_norms = NULL
        self.squares = NULL
        self.task_counters = NULL
        self.team_window = 0.02
        self.team_wait_limit = 0.5
        self.solo_advantage = 1.1
        self.trial_interval = MIN_TRIAL_SECONDS
        self.solo_cost_time = -INFINITY  # the first window after the team's first is a trial
        self.solo_backoff = MIN_SOLO_SECONDS
        memset(self.waited, 0, sizeof(self.waited))
        memset(self.waited_before, 0, sizeof(self.waited_before))

    def __init__(self, list weights, list biases, list optimizer_state, list activations,
                 list keep, double input_keep, dict config, int batch_size):
        cdef int i
        cdef DenseLayer* layer
        convolutions = config.get("convolutions") or [None] * len(weights)
        dtype = weights[0].dtype
        self.single_precision = dtype == np.float32
        self.n_layers = len(weights)
        self.n_features = (convolutions[0][0] * convolutions[0][1] if convolutions[0]
                           else weights[0].shape[0])
        self.n_outputs = weights[self.n_layers - 1].shape[1]
        self.batch_size = batch_size
        self.loss = config["loss"]
        self.label_smoothing = config["label_smoothing"]
        self.inverted_dropout = config["inverted_dropout"]
        self.input_keep = input_keep
        self.input_noise = config["input_noise"]
        self.label_noise = config["label_noise"]
        self.weight_noise = config["weight_noise"]
        self.average_decay = config.get("average_decay", 0.0)
        self.augment = config["augment"]
        self.augment_rng = config["augment_rng"]
        self.augment_error = None
        self.rule.optimizer = config["optimizer"]
        self.rule.momentum = config["momentum"]
        self.rule.beta1 = config["beta1"]
        self.rule.beta2 = config["beta2"]
        self.rule.epsilon = config["epsilon"]
        self.alpha = config["alpha"]
        self.weight_decay = config["weight_decay"]
        self.l1 = config["l1"]
        self.max_norm = config["max_norm"]
        self.seed = config["seed"]
        self.step = config["step"]
        self.n_threads = config["n_threads"]

        self.buffers = [weights, biases, optimizer_state, config.get("averages")]
        self.grad_weight_arrays = [np.zeros_like(w) for w in weights]
        self.grad_bias_arrays = [np.zeros_like(b) for b in biases]
        self.layers = <DenseLayer*> malloc(self.n_layers * sizeof(DenseLayer))
        if self.layers == NULL:
            raise MemoryError()
        widest = 1
        for i in range(self.n_layers):
            layer = &self.layers[i]
            layer.weight_rows = weights[i].shape[0]
            layer.weight_cols = weights[i].shape[1]
            layer.is_conv = convolutions[i] is not None
            if layer.is_conv:
                (layer.in_channels, layer.in_length, layer.out_channels, layer.out_length,
                 layer.kernel, layer.stride, layer.padding) = convolutions[i]
                layer.n_in = layer.in_length * layer.in_channels
                layer.n_out = layer.out_length * layer.out_channels
                layer.cols = self._new_buffer(
                    (batch_size * layer.out_length, layer.weight_rows), dtype)
                layer.cols_delta = self._new_buffer(
                    (batch_size * layer.out_length, layer.weight_rows), dtype) if i > 0 else NULL
            else:
                layer.n_in = layer.weight_rows
                layer.n_out = layer.weight_cols
                layer.cols = layer.cols_delta = NULL
            widest = max(widest, layer.weight_cols)
            hidden = i < self.n_layers - 1
            layer.activation = activations[i] if hidden else 0
            layer.keep = keep[i] if hidden else 1.0
            layer.weights = address(weights[i])
            layer.bias = address(biases[i])
            averages = config.get("averages")
            layer.average_weights = optional_address(averages[i][0] if averages else None)
            layer.average_bias = optional_address(averages[i][1] if averages else None)
            w1, w2, b1, b2 = optimizer_state[i]
            layer.weights_state1 = optional_address(w1)
            layer.weights_state2 = optional_address(w2)
            layer.bias_state1 = optional_address(b1)
            layer.bias_state2 = optional_address(b2)
            layer.grad_weights = address(self.grad_weight_arrays[i])
            layer.grad_bias = address(self.grad_bias_arrays[i])
            layer.saved_weights = (self._new_buffer((layer.weight_rows, layer.weight_cols), dtype)
                                   if self.weight_noise > 0 else NULL)
            layer.out = self._new_buffer((batch_size, layer.n_out), dtype)
            layer.delta = self._new_buffer((batch_size, layer.n_out), dtype) if hidden else NULL
            layer.mask = <unsigned char*> (
                self._new_buffer((batch_size, layer.n_out), np.uint8)
                if hidden and layer.keep < 1 else NULL)
        self.batch_x = self._new_buffer((batch_size, self.n_features), dtype)
        self.batch_x_array = self.buffers[len(self.buffers) - 1]
        self.batch_y = self._new_buffer((batch_size, self.n_outputs), dtype)
        self.batch_weight = self._new_buffer((batch_size,), dtype)
        self.input_mask = <unsigned char*> (
            self._new_buffer((batch_size, self.n_features), np.uint8) if input_keep < 1 else NULL)
        self.column_norms = <double*> malloc(widest * sizeof(double))
        self.squares = <double*> malloc(self.n_layers * sizeof(double))
        self.task_counters = <int*> malloc(2 * self.n_layers * sizeof(int))
        if self.column_norms == NULL or self.squares == NULL or self.task_counters == NULL:
            raise MemoryError()
        self.work_per_sample = sum(
            [<int64_t> self.layers[i].weight_rows * self.layers[i].weight_cols
             * (self.layers[i].out_length if self.layers[i].is_conv else 1)
             for i in range(self.n_layers)])
        self.order = np.empty(0, dtype=np.int64)

    def __dealloc__(self):
        free(self.layers)
        free(self.column_norms)
        free(self.squares)
        free(self.task_counters)

    cdef void* _new_buffer(self, shape, dtype) except NULL:
        array = np.zeros(shape, dtype=dtype)
        self.buffers.append(array)
        return address(array)

    @property
    def gradients(self):
        """Gradients of the last batch, ``(grad_weights, grad_biases)``, as lists of copies."""
        return ([g.copy() for g in self.grad_weight_arrays],
                [g.copy() for g in self.grad_bias_arrays])

    def train_epoch(self, X, Y, sample_weight, double learning_rate, bint shuffle,
                    uint64_t epoch, order=None):
        """Run one epoch of minibatch training; return ``(data_loss, penalty)`` sums.

        ``X`` is a C-contiguous array, or a CSR matrix as a tuple ``(data, indices, indptr)``
        (int64 indices) whose rows are scattered into the dense batch buffer.
        Samples are visited in ``order`` when given (a permutation of ``range(n_samples)``),
        else shuffled with the stream of ``epoch``, else in their order. Each batch adds
        ``sum_i w_i loss_i / S * n_batch`` to the data loss and
        ``alpha / 2 ||W||^2 / S * n_batch`` to the penalty, as in scikit-learn: their sum
        over ``n_samples`` is its ``loss_``.
        """
        cdef bint sparse = isinstance(X, tuple)
        cdef int64_t n_samples = Y.shape[0]
        cdef const int64_t[::1] csr_indices, csr_indptr
        cdef const int64_t* indices_ptr = NULL
        cdef const int64_t* indptr_ptr = NULL
        if sparse:
            X, csr_indices, csr_indptr = X
            indptr_ptr = &csr_indptr[0]
            if csr_indices.shape[0] > 0:
                indices_ptr = &csr_indices[0]
        if self.order.shape[0] != n_samples:
            self.order = np.empty(n_samples, dtype=np.int64)
        if order is not None:
            self.order[:] = order
            shuffle = False
        cdef int64_t[::1] order_view = self.order
        cdef bint given_order = order is not None
        cdef double totals[2]
        cdef const float[::1] x32
        cdef const double[::1] x64
        cdef const float[:, ::1] y32
        cdef const double[:, ::1] y64
        cdef const float[::1] w32
        cdef const double[::1] w64
        cdef int team = self._team_threads(self.batch_size)
        flat_x = X.reshape(-1)
        if self.single_precision:
            x32 = flat_x
            y32 = Y
            w32 = sample_weight if sample_weight is not None else None
            with nogil:
                _train_epoch(self, &x32[0] if x32.shape[0] > 0 else NULL, indices_ptr,
                             indptr_ptr, &y32[0, 0], &w32[0] if w32 is not None else NULL,
                             n_samples, &order_view[0], given_order, learning_rate, shuffle,
                             epoch, team, totals)
        else:
            x64 = flat_x
            y64 = Y
            w64 = sample_weight if sample_weight is not None else None
            with nogil:
                _train_epoch(self, &x64[0] if x64.shape[0] > 0 else NULL, indices_ptr,
                             indptr_ptr, &y64[0, 0], &w64[0] if w64 is not None else NULL,
                             n_samples, &order_view[0], given_order, learning_rate, shuffle,
                             epoch, team, totals)
        if self.augment_error is not None:
            error, self.augment_error = self.augment_error, None
            raise error
        return totals[0], totals[1]

    cdef int _team_threads(self, int n_rows):
        """Threads for steps of n_rows rows: n_threads, or 1 when a step is too small to
        share (the result does not depend on it)."""
        if <double> n_rows * self.work_per_sample < MIN_TEAM_WORK:
            return 1
        return max(1, min(self.n_threads, MAX_TEAM))

    cdef int _augment_batch(self, int n_rows) noexcept with gil:
        """Replace the batch's inputs by ``augment(inputs, rng)``; -1 (error kept) on failure."""
        batch = self.batch_x_array[:n_rows]
        try:
            result = self.augment(batch.copy(), self.augment_rng)
            result = np.asarray(result)
            if result.shape != batch.shape:
                raise ValueError(f"augment returned shape {result.shape}; expected {batch.shape}.")
            if not np.all(np.isfinite(result)):
                raise ValueError("augment returned NaN or infinity.")
            batch[...] = result
        except BaseException as error:
            self.augment_error = error
            return -1
        return 0

    def loss_gradient(self, X, Y, sample_weight, bint training=True):
        """Loss and gradients of the whole of ``X`` as one batch; parameters stay as they are.

        With ``training``, dropout masks and input noise are drawn for the current ``step``
        (so repeated calls see the same masks); without, the network is deterministic.
        Returns the batch loss; the gradients are then in ``gradients``.
        """
        cdef int64_t n_rows = X.shape[0]
        cdef const float[:, ::1] x32, y32
        cdef const double[:, ::1] x64, y64
        cdef const float[::1] w32
        cdef const double[::1] w64
        cdef double results[3]
        cdef int team = self._team_threads(<int> n_rows)
        if self.single_precision:
            x32 = X
            y32 = Y
            w32 = sample_weight if sample_weight is not None else None
            with nogil:
                _team_loss_gradient(self, <float*> &x32[0, 0], &y32[0, 0],
                                    &w32[0] if w32 is not None else NULL, <int> n_rows,
                                    training, team, results)
        else:
            x64 = X
            y64 = Y
            w64 = sample_weight if sample_weight is not None else None
            with nogil:
                _team_loss_gradient(self, <double*> &x64[0, 0], &y64[0, 0],
                                    &w64[0] if w64 is not None else NULL, <int> n_rows,
                                    training, team, results)
        return (results[0] + results[2]) / results[1]

    def evaluate(self, X, Y, sample_weight):
        """``(sum_i w_i loss_i, alpha / 2 ||W||^2)`` over ``X``: forward passes only
        (dropout off), in chunks of the engine's batch size."""
        cdef int64_t n_samples = X.shape[0], start
        cdef int n_rows
        cdef const float[:, ::1] x32, y32
        cdef const double[:, ::1] x64, y64
        cdef const float[::1] w32
        cdef const double[::1] w64
        cdef double penalty = 0.0, chunk_weight, total = 0.0
        if self.single_precision:
            x32, y32 = X, Y
            w32 = sample_weight if sample_weight is not None else None
        else:
            x64, y64 = X, Y
            w64 = sample_weight if sample_weight is not None else None
        start = 0
        with nogil:
            while start < n_samples:
                n_rows = <int> min(<int64_t> self.batch_size, n_samples - start)
                if self.single_precision:
                    total += _team_step(self, 0, 1, <float*> &x32[start, 0], &y32[start, 0],
                                        &w32[start] if w32 is not None else NULL, n_rows, 0.0,
                                        self.step, False, False, False, &chunk_weight, &penalty)
                else:
                    total += _team_step(self, 0, 1, <double*> &x64[start, 0], &y64[start, 0],
                                        &w64[start] if w64 is not None else NULL, n_rows, 0.0,
                                        self.step, False, False, False, &chunk_weight, &penalty)
                start += n_rows
        return total, penalty

    def parameters_finite(self):
        """Whether no weight or bias is NaN or infinite (a pass over them, no temporaries)."""
        cdef int l
        cdef bint finite = True
        with nogil:
            for l in range(self.n_layers):
                if self.single_precision:
                    finite = finite and _layer_finite(&self.layers[l], <float*> self.layers[l].weights)
                else:
                    finite = finite and _layer_finite(&self.layers[l], <double*> self.layers[l].weights)
        return finite

    def predict(self, X, out):
        """out := the network's output for ``X`` (dropout off), computed in chunks of rows."""
        cdef int64_t n_samples = X.shape[0]
        cdef int chunk_rows = <int> min(n_samples, 256)
        cdef int widest = max([self.layers[l].n_out for l in range(self.n_layers)])
        cdef int widest_patches = max([self.layers[l].out_length * self.layers[l].weight_rows
                                       if self.layers[l].is_conv else 1
                                       for l in range(self.n_layers)])
        buffers = np.empty((3, chunk_rows * max(widest, widest_patches)), dtype=out.dtype)
        cdef const float[:, ::1] x32
        cdef const double[:, ::1] x64
        cdef float[:, ::1] b32, o32
        cdef double[:, ::1] b64, o64
        if self.single_precision:
            x32, b32, o32 = X, buffers, out
            with nogil:
                _predict(self, &x32[0, 0], n_samples, chunk_rows, &b32[0, 0], &b32[1, 0],
                         &b32[2, 0], &o32[0, 0])
        else:
            x64, b64, o64 = X, buffers, out
            with nogil:
                _predict(self, &x64[0, 0], n_samples, chunk_rows, &b64[0, 0], &b64[1, 0],
                         &b64[2, 0], &o64[0, 0])
        return out



cdef bint _layer_finite(DenseLayer* layer, const floating* weights) noexcept nogil:
    return (_all_finite(weights, <Py_ssize_t> layer.weight_rows * layer.weight_cols)
            and _all_finite(<floating*> layer.bias, layer.weight_cols))


cdef bint _all_finite(const floating* x, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    cdef int finite = 1
    for i in range(size):
        finite &= x[i] - x[i] == 0  # false for NaN and infinity
    return finite


def forget_team_verdict():
    """Forget the last comparison of one thread with the team (for tests: the next engine
    times one thread itself)."""
    last_verdict.work_per_step = 0


def max_team_threads():
    """The most threads a team may have, as OpenMP says for the calling thread:
    ``OMP_NUM_THREADS``, a limit set through threadpoolctl, or that of a joblib worker
    process; 1 without OpenMP."""
    return openmp_thread_limit()


def noisy_labels(Engine engine, Y, uint64_t epoch):
    """The targets ``Y`` as label noise leaves them in `epoch` (a copy; for tests)."""
    out = np.array(Y, dtype=np.float64, order="C")
    cdef double[:, ::1] targets = out
    cdef int64_t row
    for row in range(targets.shape[0]):
        _replace_label(engine, &targets[row, 0], row, epoch)
    return out


cdef void _train_epoch(Engine self, const floating* X, const int64_t* csr_indices,
                       const int64_t* csr_indptr, const floating* Y,
                       const floating* sample_weight, int64_t n_samples, int64_t* order,
                       bint given_order, double learning_rate, bint shuffle, uint64_t epoch,
                       int n_threads, double* totals) noexcept nogil:
    """Shuffle, then run the epoch's steps on a team of up to n_threads threads."""
    cdef int64_t i
    cdef int thread
    cdef bint starts_solo
    totals[0] = totals[1] = 0.0
    self.stop = False
    if shuffle:
        shuffle_indices(order, n_samples, stream_key(self.seed, SHUFFLE_STREAM, epoch, 0))
    elif not given_order:
        for i in range(n_samples):
            order[i] = i
    self.segment_start = team_clock()
    if n_threads <= 1:
        _epoch_steps(self, X, csr_indices, csr_indptr, Y, sample_weight, n_samples, order,
                     learning_rate, epoch, 0, 1, False, False, totals)
        return
    if self.clock == 0:
        _adopt_verdict(self)
    starts_solo = self.solo  # read before the team starts, whose reviews may change it
    if starts_solo and self.solo_until - self.clock > n_samples * self.solo_cost:
        # One thread's turn outlasts the epoch: no team is woken only to be parked.
        _epoch_steps(self, X, csr_indices, csr_indptr, Y, sample_weight, n_samples, order,
                     learning_rate, epoch, 0, 1, True, True, totals)
        return
    with parallel(num_threads=n_threads):
        thread = threadid()
        _epoch_steps(self, X, csr_indices, csr_indptr, Y, sample_weight, n_samples, order,
                     learning_rate, epoch, thread, team_size(), True, starts_solo, totals)


cdef void _epoch_steps(Engine self, const floating* X, const int64_t* csr_indices,
                       const int64_t* csr_indptr, const floating* Y,
                       const floating* sample_weight, int64_t n_samples,
                       const int64_t* order, double learning_rate, uint64_t epoch,
                       int thread, int team, bint reviewed, bint starts_solo,
                       double* totals) noexcept nogil:
    """One thread's part of an epoch: every thread of the team of `team` runs this same
    loop. With `reviewed` (a team was at hand) thread 0 reviews the team between steps;
    while the engine is solo, thread 0 runs the steps alone and the others wait, parked.
    `starts_solo` is whether it was when the epoch began."""
    cdef int64_t start = 0, row, p
    cdef int64_t step = self.step
    cdef int i, n_rows, first, last
    cdef int active = 1 if starts_solo else team  # threads taking part in the steps
    cdef int n_features = self.n_features
    cdef int n_outputs = self.n_outputs
    cdef floating* batch_x = <floating*> self.batch_x
    cdef floating* batch_y = <floating*> self.batch_y
    cdef floating* batch_weight = <floating*> self.batch_weight
    cdef double weight_sum, penalty, batch_loss
    while True:
        if reviewed:
            if thread == 0:
                _review_team(self, team)
                if active < team and (not self.solo or start >= n_samples or self.stop):
                    # The team takes the steps back, or the epoch is over: wake the others.
                    self.resume_start = start
                    team_park(team)
                    active = team
                if active == team:
                    # The others read this after the gather's barrier. `solo` itself may
                    # change before a slow partner reads it: thread 0 alone does not wait.
                    self.hand_over = self.solo
            elif active < team:
                team_park(team)
                start = self.resume_start
                step = self.step
                active = team
        if start >= n_samples or self.stop:
            break
        n_rows = <int> min(<int64_t> self.batch_size, n_samples - start)
        first = _part_start(n_rows, thread, active)
        last = _part_start(n_rows, thread + 1, active)
        for i in range(first, last):
            row = order[start + i]
            if csr_indptr == NULL:
                memcpy(batch_x + i * n_features, X + row * n_features, n_features * sizeof(floating))
            else:
                # A CSR row scattered into the dense batch row (duplicates add up).
                memset(batch_x + i * n_features, 0, n_features * sizeof(floating))
                for p in range(csr_indptr[row], csr_indptr[row + 1]):
                    batch_x[i * n_features + csr_indices[p]] += X[p]
            memcpy(batch_y + i * n_outputs, Y + row * n_outputs, n_outputs * sizeof(floating))
            if sample_weight != NULL:
                batch_weight[i] = sample_weight[row]
            if self.label_noise > 0:
                _replace_label(self, batch_y + i * n_outputs, row, epoch)
        _meet(self, thread, active)
        if active > 1 and self.hand_over:
            # The batch is gathered; thread 0 takes this step and the next ones alone.
            active = 1
            if thread != 0:
                continue
        if self.augment is not None:
            if thread == 0 and self._augment_batch(n_rows) != 0:
                self.stop = True
            _meet(self, thread, active)
            if self.stop:
                continue
        batch_loss = _team_step(self, thread, active, batch_x, batch_y,
                                batch_weight if sample_weight != NULL else NULL, n_rows,
                                learning_rate, step, True, True, True, &weight_sum, &penalty)
        if thread == 0:
            totals[0] += batch_loss / weight_sum * n_rows
            totals[1] += penalty / weight_sum * n_rows
            self.step = step + 1
            self.window_samples += n_rows
            if reviewed and active == 1:
                self.solo_steps += 1
        step += 1
        start += n_rows


cdef inline void _meet(Engine self, int thread, int team) noexcept nogil:
    """The team's barrier, counting the time this thread waited (see ``_review_team``)."""
    team_barrier(team, &self.waited[thread * WAIT_STRIDE])


cdef void _start_window(Engine self) noexcept nogil:
    cdef int i
    self.window_start = self.clock
    self.window_samples = 0
    for i in range(MAX_TEAM):
        self.waited_before[i] = team_read(&self.waited[i * WAIT_STRIDE])


cdef inline int64_t _work_per_step(Engine self) noexcept nogil:
    return self.work_per_sample * self.batch_size


cdef inline bint _one_thread_wins(Engine self, double team_cost, double solo_cost) noexcept nogil:
    return team_cost > self.solo_advantage * solo_cost


cdef void _adopt_verdict(Engine self) noexcept nogil:
    """Before an engine's first team epoch: take up a fresh verdict on steps of this size."""
    cdef TeamVerdict verdict = last_verdict
    if (verdict.work_per_step != _work_per_step(self)
            or self.segment_start - verdict.time > VERDICT_SECONDS):
        return
    self.solo_cost = verdict.solo_cost
    self.solo_cost_time = 0.0
    if _one_thread_wins(self, verdict.team_cost, verdict.solo_cost):
        self.solo = True
        self.solo_until = self.solo_backoff
    else:
        self.compare_pending = True


cdef void _review_team(Engine self, int team) noexcept nogil:
    """By thread 0 between the steps of a team of `team` threads: advance the clock and,
    at the end of a window, decide whether the next steps run on one thread or on the
    team (`solo`, which the team learns through `hand_over`; see the Engine's fields)."""
    cdef int i
    cdef double now = team_clock()
    cdef double span, cost, waited
    cdef bint waited_too_long = False
    self.clock += now - self.segment_start
    self.segment_start = now
    if team == 1 and not self.solo:
        # One thread's turn ended in an epoch run without a team: the team's window
        # begins with the next epoch.
        _start_window(self)
        return
    span = self.clock - self.window_start
    if span < self.team_window or self.window_samples == 0:
        return
    cost = span / self.window_samples
    if self.solo:
        self.solo_cost = cost
        self.solo_cost_time = self.clock
        if self.clock >= self.solo_until:
            self.solo = False
            self.compare_pending = True
    else:
        for i in range(team):
            waited = team_read(&self.waited[i * WAIT_STRIDE]) - self.waited_before[i]
            if waited > self.team_wait_limit * span:
                waited_too_long = True
        if self.compare_pending:
            last_verdict.work_per_step = _work_per_step(self)
            last_verdict.solo_cost = self.solo_cost
            last_verdict.team_cost = cost
            last_verdict.time = now
        if waited_too_long or (self.compare_pending
                               and _one_thread_wins(self, cost, self.solo_cost)):
            self.solo = True
            self.solo_until = self.clock + self.solo_backoff
            self.solo_backoff = min(2 * self.solo_backoff, MAX_SOLO_SECONDS)
            self.trial_interval = MIN_TRIAL_SECONDS
        elif self.clock - self.solo_cost_time >= self.trial_interval:
            self.solo = True  # a trial: one window on one thread
            self.solo_until = self.clock
        else:
            if self.compare_pending:
                self.trial_interval = min(2 * self.trial_interval, MAX_TRIAL_SECONDS)
            self.solo_backoff = MIN_SOLO_SECONDS
        self.compare_pending = False
    _start_window(self)


cdef void _team_loss_gradient(Engine self, floating* x, const floating* y,
                              const floating* sample_weight, int n_rows, bint training,
                              int n_threads, double* results) noexcept nogil:
    """results := (sum_i w_i loss_i, S, penalty) of one batch, its gradients computed by a
    team of up to n_threads threads."""
    cdef int thread
    if n_threads <= 1:
        _loss_gradient_part(self, x, y, sample_weight, n_rows, training, 0, 1, results)
        return
    with parallel(num_threads=n_threads):
        thread = threadid()
        _loss_gradient_part(self, x, y, sample_weight, n_rows, training, thread, team_size(),
                            results)


cdef void _loss_gradient_part(Engine self, floating* x, const floating* y,
                              const floating* sample_weight, int n_rows, bint training,
                              int thread, int team, double* results) noexcept nogil:
    cdef double weight_sum, penalty
    cdef double total = _team_step(self, thread, team, x, y, sample_weight, n_rows, 0.0,
                                   self.step, training, True, False, &weight_sum, &penalty)
    if thread == 0:
        results[0] = total
        results[1] = weight_sum
        results[2] = penalty


cdef inline int _part_start(int n, int part, int n_parts) noexcept nogil:
    """Start of part `part` when ``range(n)`` is cut into n_parts nearly equal parts."""
    return <int> (<int64_t> n * part // n_parts)


cdef void _replace_label(Engine self, floating* target, int64_t row,
                         uint64_t epoch) noexcept nogil:
    """Label noise: with probability label_noise, replace a sample's label by a random one.

    Softmax targets become the one-hot vector of a uniformly drawn class (possibly the true
    one); each logistic target becomes a fair coin. The draws depend on (seed, epoch, sample).
    """
    cdef uint64_t key = stream_key(self.seed, LABEL_NOISE_STREAM, epoch, 0)
    cdef int k, n_outputs = self.n_outputs
    cdef uint64_t counter
    if self.loss == SOFTMAX_CROSS_ENTROPY:
        if uniform_open(random_bits(key, 2 * <uint64_t> row)) < self.label_noise:
            counter = random_bits(key, 2 * <uint64_t> row + 1) % <uint64_t> n_outputs
            for k in range(n_outputs):
                target[k] = 1 if k == <int> counter else 0
    elif self.loss == LOGISTIC_CROSS_ENTROPY:
        for k in range(n_outputs):
            counter = 2 * (<uint64_t> row * n_outputs + k)
            if uniform_open(random_bits(key, counter)) < self.label_noise:
                target[k] = random_bits(key, counter + 1) & 1


cdef void _perturb_weights(Engine self, DenseLayer* layer, floating* weights,
                           int layer_index, int64_t step) noexcept nogil:
    """Weight noise: keep the clean weights aside and add N(0, weight_noise^2) to each."""
    cdef int64_t i, size = <int64_t> layer.weight_rows * layer.weight_cols
    cdef uint64_t key = stream_key(self.seed, WEIGHT_NOISE_STREAM, <uint64_t> step, layer_index)
    memcpy(layer.saved_weights, weights, size * sizeof(floating))
    for i in range(size):
        weights[i] = <floating> (weights[i] + self.weight_noise * standard_normal(key, i))


cdef double _team_step(Engine self, int thread, int team, floating* x, const floating* y,
                       const floating* sample_weight, int n_rows, double learning_rate,
                       int64_t step, bint training, bint backward, bint update,
                       double* weight_sum, double* penalty) noexcept nogil:
    """Forward and loss on one batch, then (with `backward`) the gradients and (with
    `update`) one optimizer step, by thread `thread` of a team of `team` threads.

    Every thread of the team calls this with the same arguments. The work is cut into
    pieces whose arithmetic does not depend on who runs them: blocks of a product
    (``_blas.gemm_block``), rows of an elementwise pass, whole products, whole layer
    updates. So the result is bit-identical for any team size. Forward, the threads share
    each product's blocks and each pass's rows. Backward, layer by layer, the
    threads take from a shared counter the blocks of ``delta_{l-1} = delta_l W_l^T``
    and of the weight gradient, the bias sums, and the update of the layer above, whose
    weights the delta no longer needs; then they share the activation derivative by rows.

    Returns ``sum_i w_i loss_i``; sets ``penalty`` to ``alpha / 2 ||W||^2`` (the weights
    before the step) and ``weight_sum`` to ``S``. With `training`, input noise and dropout
    are applied (written into the engine's batch buffer, whose `x` may be).
    """
    cdef int i, l, c, block, n_blocks, n_delta_blocks, task, first, last, m, k
    cdef int n_layers = self.n_layers
    cdef DenseLayer* layer
    cdef const floating* layer_input
    cdef const floating* product_input
    cdef floating* delta
    cdef floating* batch_x = <floating*> self.batch_x
    cdef floating alpha
    cdef double total_weight, data_loss, squares, input_scale, keep_scale
    cdef int64_t element, start, stop
    cdef uint64_t key
    cdef StepRule rule = self.rule

    if sample_weight == NULL:
        total_weight = n_rows
    else:
        total_weight = 0.0
        for i in range(n_rows):
            total_weight += sample_weight[i]
        if total_weight <= 0:
            # A batch of zero weight has no loss to descend: no step. The team meets before
            # leaving, so that no thread gathers the next batch while another reads this one.
            _meet(self, thread, team)
            weight_sum[0] = 1.0
            penalty[0] = 0.0
            return 0.0
    weight_sum[0] = total_weight
    first = _part_start(n_rows, thread, team)
    last = _part_start(n_rows, thread + 1, team)

    # Input noise, then input dropout, into the batch buffer, each thread on its rows.
    if training and (self.input_noise > 0 or self.input_keep < 1):
        start = <int64_t> first * self.n_features
        stop = <int64_t> last * self.n_features
        if x != batch_x:
            memcpy(batch_x + start, x + start, (stop - start) * sizeof(floating))
        if self.input_noise > 0:
            key = stream_key(self.seed, INPUT_NOISE_STREAM, <uint64_t> step, 0)
            for element in range(start, stop):
                batch_x[element] = <floating> (
                    batch_x[element] + self.input_noise * standard_normal(key, element))
        if self.input_keep < 1:
            fill_keep_mask(self.input_mask + start, stop - start,
                           stream_key(self.seed, DROPOUT_STREAM, <uint64_t> step, 0),
                           start, keep_threshold(self.input_keep))
            keep_scale = 1.0 / self.input_keep if self.inverted_dropout else 1.0
            for element in range(start, stop):
                batch_x[element] = <floating> (
                    batch_x[element] * (keep_scale if self.input_mask[element] else 0.0))
        x = batch_x

    if thread == 0:
        for l in range(2 * n_layers):
            self.task_counters[l] = 0

    # Weight noise: the step's gradient is taken at perturbed weights; each layer's clean
    # weights are restored just before its update.
    if training and update and self.weight_noise > 0:
        l = thread
        while l < n_layers:
            _perturb_weights(self, &self.layers[l], <floating*> self.layers[l].weights, l, step)
            l += team
    _meet(self, thread, team)

    # Forward. Vanilla input dropout scales the inputs by their keep rate outside training.
    input_scale = 1.0 if training or self.inverted_dropout else self.input_keep
    layer_input = x
    for l in range(n_layers):
        layer = &self.layers[l]
        alpha = <floating> (input_scale if l == 0 else 1.0)
        product_input = layer_input
        m = n_rows
        k = layer.n_in
        if layer.is_conv:
            _im2col(layer, layer_input + <int64_t> first * layer.n_in,
                    <floating*> layer.cols + <int64_t> first * layer.out_length * layer.weight_rows,
                    last - first)
            _meet(self, thread, team)
            product_input = <floating*> layer.cols
            m = n_rows * layer.out_length
            k = layer.weight_rows
        n_blocks = gemm_block_count(m, layer.weight_cols, k)
        block = team_next(&self.task_counters[l])
        while block < n_blocks:
            gemm_block(False, False, m, layer.weight_cols, k, alpha, product_input, k,
                       <floating*> layer.weights, layer.weight_cols, <floating> 0.0,
                       <floating*> layer.out, layer.weight_cols, block)
            block = team_next(&self.task_counters[l])
        _meet(self, thread, team)
        if l < n_layers - 1:
            m = _pass_rows(layer, n_rows)
            c = _pass_cols(layer)
            i = _part_start(m, thread, team)
            bias_activation_dropout(
                <floating*> layer.out + <int64_t> i * c, <floating*> layer.bias,
                _part_start(m, thread + 1, team) - i, c, layer.activation,
                layer.mask + <int64_t> i * c if training and layer.mask != NULL else NULL,
                keep_threshold(layer.keep),
                stream_key(self.seed, DROPOUT_STREAM, <uint64_t> step, l + 1),
                <floating> _dropout_scale(self, layer, training), i)
            _meet(self, thread, team)
            layer_input = <floating*> layer.out

    # The loss, summed over LOSS_CHUNKS fixed chunks of rows, then in chunk order.
    if thread == 0:
        for l in range(n_layers):
            self.squares[l] = 0.0
    layer = &self.layers[n_layers - 1]
    c = thread
    while c < LOSS_CHUNKS:
        i = _part_start(n_rows, c, LOSS_CHUNKS)
        self.partial_loss[c] = loss_gradient(
            <floating*> layer.out + <int64_t> i * layer.n_out, <floating*> layer.bias,
            y + <int64_t> i * layer.n_out, sample_weight + i if sample_weight != NULL else NULL,
            _part_start(n_rows, c + 1, LOSS_CHUNKS) - i, layer.n_out, self.loss,
            self.label_smoothing, 1.0 / total_weight, NULL)
        c += team
    _meet(self, thread, team)
    data_loss = 0.0
    for c in range(LOSS_CHUNKS):
        data_loss += self.partial_loss[c]

    if update:
        rule.learning_rate = learning_rate
        if rule.optimizer == ADAM:
            rule.learning_rate *= (sqrt(1 - pow(rule.beta2, <double> (step + 1)))
                                   / (1 - pow(rule.beta1, <double> (step + 1))))
        rule.l2 = self.alpha / total_weight
        rule.decay_factor = 1 - learning_rate * self.weight_decay
        rule.l1_threshold = learning_rate * self.l1
    if backward:
        for l in range(n_layers - 1, -1, -1):
            # Stage l: delta_l is complete. The team grabs the stage's tasks from a counter
            # (a task is computed the same way whoever takes it): the update of layer l + 1,
            # whose weights served their last product in stage l + 1; the blocks of
            # delta_{l-1} = delta_l W_l^T and of grad W_l; grad b_l.
            layer = &self.layers[l]
            delta = <floating*> (layer.out if l == n_layers - 1 else layer.delta)
            n_delta_blocks = _delta_block_count(layer, n_rows) if l > 0 else 0
            n_blocks = n_delta_blocks + _gradient_block_count(layer, n_rows)
            task = team_next(&self.task_counters[n_layers + l])
            while task < n_blocks + 3:
                if task < n_delta_blocks:
                    _delta_block(self, l, delta, n_rows, task)
                    if n_delta_blocks == 1:  # the whole delta: finish it on the spot
                        _finish_delta(self, l, <floating*> self.layers[l - 1].delta, 0, n_rows,
                                      training)
                elif task < n_blocks:
                    _gradient_block(self, l, x, delta, n_rows, input_scale, task - n_delta_blocks)
                elif task == n_blocks:
                    column_sums(delta, _pass_rows(layer, n_rows), _pass_cols(layer),
                                <floating*> layer.grad_bias)
                elif task == n_blocks + 1:
                    if l + 1 < n_layers:
                        _finish_layer(self, l + 1, <floating*> self.layers[l + 1].weights,
                                      &rule, update, total_weight)
                elif l == 0 and update:
                    # Layer 0's own update comes after the stage (the team shares it); its
                    # clean weights and ||W||^2 are ready now.
                    if self.weight_noise > 0 and training:
                        memcpy(layer.weights, layer.saved_weights,
                               <int64_t> layer.weight_rows * layer.weight_cols * sizeof(floating))
                    if self.alpha > 0:
                        self.squares[0] = sum_of_squares(
                            <floating*> layer.weights,
                            <int64_t> layer.weight_rows * layer.weight_cols)
                task = team_next(&self.task_counters[n_layers + l])
            _meet(self, thread, team)
            if n_delta_blocks > 1:
                _finish_delta(self, l, <floating*> self.layers[l - 1].delta, first, last,
                              training)
                _meet(self, thread, team)
        _finish_first_layer(self, <floating*> self.layers[0].weights, thread, team, &rule,
                            update, total_weight)
    elif thread == 0 and self.alpha > 0:
        for l in range(n_layers):
            self.squares[l] = sum_of_squares(<floating*> self.layers[l].weights,
                                             <int64_t> self.layers[l].weight_rows * self.layers[l].weight_cols)
    _meet(self, thread, team)
    squares = 0.0
    for l in range(n_layers):
        squares += self.squares[l]
    penalty[0] = 0.5 * self.alpha * squares
    return data_loss


cdef inline int _delta_block_count(DenseLayer* layer, int n_rows) noexcept nogil:
    """Blocks of delta_l W_l^T (for a convolution, into the patches' gradient)."""
    return gemm_block_count(_pass_rows(layer, n_rows), layer.weight_rows, layer.weight_cols)


cdef void _delta_block(Engine self, int l, const floating* delta, int n_rows,
                       int block) noexcept nogil:
    """Block `block` of delta_l @ W_l^T: the next layer down's delta before its
    activation derivative (a convolution's goes to its patches, folded back by col2im)."""
    cdef DenseLayer* layer = &self.layers[l]
    gemm_block(False, True, _pass_rows(layer, n_rows), layer.weight_rows, layer.weight_cols,
               <floating> 1.0, delta, layer.weight_cols, <floating*> layer.weights,
               layer.weight_cols, <floating> 0.0,
               <floating*> (layer.cols_delta if layer.is_conv else self.layers[l - 1].delta),
               layer.weight_rows, block)


cdef void _finish_delta(Engine self, int l, floating* previous_delta, int first, int last,
                        bint training) noexcept nogil:
    """Samples first .. last - 1 of the delta one layer below l (`previous_delta`, that
    layer's buffer): col2im for a convolution, then the activation derivative and the
    dropout mask."""
    cdef DenseLayer* layer = &self.layers[l]
    cdef DenseLayer* previous = &self.layers[l - 1]
    cdef int64_t offset = <int64_t> first * previous.n_out
    cdef int rows_per_sample = previous.out_length if previous.is_conv else 1
    if layer.is_conv:
        _col2im(layer,
                <floating*> layer.cols_delta + <int64_t> first * layer.out_length * layer.weight_rows,
                previous_delta + offset, last - first)
    activation_derivative(
        previous_delta + offset, <floating*> previous.out + offset,
        (last - first) * rows_per_sample, _pass_cols(previous), previous.activation,
        previous.mask + offset if training and previous.mask != NULL else NULL,
        <floating> _dropout_scale(self, previous, training))


cdef inline int _gradient_block_count(DenseLayer* layer, int n_rows) noexcept nogil:
    """Blocks of grad W_l."""
    return gemm_block_count(layer.weight_rows, layer.weight_cols, _pass_rows(layer, n_rows))


cdef void _gradient_block(Engine self, int l, const floating* x, const floating* delta,
                          int n_rows, double input_scale, int block) noexcept nogil:
    """Block `block` of grad_W := alpha * inputs^T @ delta (patches for a
    convolution)."""
    cdef DenseLayer* layer = &self.layers[l]
    cdef const floating* inputs
    if layer.is_conv:
        inputs = <floating*> layer.cols
    else:
        inputs = x if l == 0 else <floating*> self.layers[l - 1].out
    gemm_block(True, False, layer.weight_rows, layer.weight_cols, _pass_rows(layer, n_rows),
               <floating> (input_scale if l == 0 else 1.0), inputs, layer.weight_rows,
               delta, layer.weight_cols, <floating> 0.0, <floating*> layer.grad_weights,
               layer.weight_cols, block)


cdef void _finish_layer(Engine self, int l, floating* weights, const StepRule* rule,
                        bint update, double total_weight) noexcept nogil:
    """Once a layer's gradients are complete and its weights served the backward pass:
    its optimizer step with max-norm and averaging, or (without `update`) the L2 term of
    its gradient. Records ``||W||^2`` (before the step) for the penalty. `weights` are
    the layer's."""
    cdef DenseLayer* layer = &self.layers[l]
    cdef int64_t size = <int64_t> layer.weight_rows * layer.weight_cols
    if not update:
        _add_layer_l2(self, l, weights, total_weight)
        return
    if self.weight_noise > 0:
        memcpy(weights, layer.saved_weights, size * sizeof(floating))
    if self.alpha > 0:
        self.squares[l] = sum_of_squares(weights, size)
    _step_layer(layer, weights, rule, 0, size, True)
    if self.max_norm > 0:
        clip_column_norms(weights, layer.weight_rows, layer.weight_cols, self.max_norm,
                          self.column_norms)
    _average_layer(self, layer, weights, 0, size, True)


cdef void _finish_first_layer(Engine self, floating* weights, int thread, int team,
                              const StepRule* rule, bint update,
                              double total_weight) noexcept nogil:
    """_finish_layer for layer 0, whose weight step the team shares by pieces of the array
    (its weights were restored and ||W||^2 recorded during the last stage)."""
    cdef DenseLayer* layer = &self.layers[0]
    cdef int64_t size = <int64_t> layer.weight_rows * layer.weight_cols
    cdef int64_t start = size * thread // team
    cdef int64_t stop = size * (thread + 1) // team
    if not update:
        if thread == 0:
            _add_layer_l2(self, 0, weights, total_weight)
        return
    _step_layer(layer, weights, rule, start, stop, thread == 0)
    if self.max_norm > 0:
        # Max-norm needs whole columns: one thread, once every piece has stepped.
        _meet(self, thread, team)
        if thread == 0:
            clip_column_norms(weights, layer.weight_rows, layer.weight_cols, self.max_norm,
                              self.column_norms)
            _average_layer(self, layer, weights, 0, size, True)
    else:
        _average_layer(self, layer, weights, start, stop, thread == 0)


cdef void _add_layer_l2(Engine self, int l, floating* weights, double total_weight) noexcept nogil:
    """grad_W += alpha / S * W for layer l, recording ||W||^2 (no step taken)."""
    cdef DenseLayer* layer = &self.layers[l]
    if self.alpha > 0:
        self.squares[l] = _add_l2_gradient(<floating*> layer.grad_weights, weights,
                                           <int64_t> layer.weight_rows * layer.weight_cols,
                                           self.alpha / total_weight)


cdef void _step_layer(DenseLayer* layer, floating* weights, const StepRule* rule,
                      int64_t start, int64_t stop, bint with_bias) noexcept nogil:
    """The optimizer step of weights start .. stop - 1 of a layer, and of its bias."""
    update_parameters(weights + start, <floating*> layer.grad_weights + start,
                      <floating*> layer.weights_state1 + start if layer.weights_state1 != NULL else NULL,
                      <floating*> layer.weights_state2 + start if layer.weights_state2 != NULL else NULL,
                      stop - start, rule, True)
    if with_bias:
        update_parameters(<floating*> layer.bias, <floating*> layer.grad_bias,
                          <floating*> layer.bias_state1, <floating*> layer.bias_state2,
                          layer.weight_cols, rule, False)


cdef void _average_layer(Engine self, DenseLayer* layer, const floating* weights, int64_t start,
                         int64_t stop, bint with_bias) noexcept nogil:
    """The moving average of weights start .. stop - 1 of a layer, and of its bias (when
    the layer is averaged)."""
    if layer.average_weights == NULL:
        return
    _moving_average(<floating*> layer.average_weights + start, weights + start, stop - start,
                    self.average_decay)
    if with_bias:
        _moving_average(<floating*> layer.average_bias, <floating*> layer.bias,
                        layer.weight_cols, self.average_decay)


cdef inline double _dropout_scale(Engine self, DenseLayer* layer, bint training) noexcept nogil:
    """Factor on a layer's output: 1/keep on kept units while training (inverted dropout),
    keep on every unit outside training (vanilla dropout), 1 otherwise."""
    if layer.mask == NULL:
        return 1.0
    if training:
        return 1.0 / layer.keep if self.inverted_dropout else 1.0
    return 1.0 if self.inverted_dropout else layer.keep


cdef double _add_l2_gradient(floating* grad, const floating* weights, int64_t size,
                             double l2) noexcept nogil:
    """grad += l2 * W; return sum(W**2)."""
    cdef int64_t i
    cdef double total = 0.0
    for i in range(size):
        total += <double> weights[i] * weights[i]
        grad[i] = <floating> (grad[i] + l2 * weights[i])
    return total


cdef void _predict(Engine self, const floating* X, int64_t n_samples, int chunk_rows,
                   floating* buffer_a, floating* buffer_b, floating* patches,
                   floating* out) noexcept nogil:
    """out := the network's output for X, chunk by chunk, with two ping-pong buffers."""
    cdef int64_t start = 0
    cdef int n_rows, l
    cdef DenseLayer* layer
    cdef const floating* layer_input
    cdef floating* layer_out
    cdef floating* spare
    cdef double input_scale = 1.0 if self.inverted_dropout else self.input_keep
    while start < n_samples:
        n_rows = <int> min(<int64_t> chunk_rows, n_samples - start)
        layer_input = X + start * self.n_features
        layer_out = buffer_a
        spare = buffer_b
        for l in range(self.n_layers):
            layer = &self.layers[l]
            if l == self.n_layers - 1:
                layer_out = out + start * self.n_outputs
            _layer_product(layer, layer_input, layer_out, patches, n_rows,
                           <floating> (input_scale if l == 0 else 1.0))
            if l < self.n_layers - 1:
                bias_activation_dropout(
                    layer_out, <floating*> layer.bias, _pass_rows(layer, n_rows), _pass_cols(layer),
                    layer.activation, NULL, 0, 0, <floating> _dropout_scale(self, layer, False), 0)
                layer_input = layer_out
                layer_out = spare
                spare = <floating*> layer_input
        output_activation(layer_out, <floating*> layer.bias, n_rows, self.n_outputs, self.loss)
        start += n_rows


cdef inline int _pass_rows(DenseLayer* layer, int n_rows) noexcept nogil:
    """Rows of a layer's output as its elementwise passes see them: one per sample, or one
    per (sample, position) for a convolution, whose bias and mask are per channel."""
    return n_rows * layer.out_length if layer.is_conv else n_rows


cdef inline int _pass_cols(DenseLayer* layer) noexcept nogil:
    return layer.out_channels if layer.is_conv else layer.n_out


cdef void _layer_product(DenseLayer* layer, const floating* layer_input, floating* out,
                         floating* patches, int n_rows, floating alpha) noexcept nogil:
    """out := alpha * inputs @ W, or for a convolution alpha * im2col(inputs) @ W."""
    if layer.is_conv:
        _im2col(layer, layer_input, patches, n_rows)
        gemm_blocked(False, False, n_rows * layer.out_length, layer.weight_cols,
                     layer.weight_rows, alpha, patches, layer.weight_rows,
                     <floating*> layer.weights, layer.weight_cols, <floating> 0.0, out,
                     layer.weight_cols)
    else:
        gemm_blocked(False, False, n_rows, layer.n_out, layer.n_in, alpha, layer_input,
                     layer.n_in, <floating*> layer.weights, layer.n_out, <floating> 0.0, out,
                     layer.n_out)


cdef void _im2col(DenseLayer* layer, const floating* inputs, floating* patches,
                  int n_rows) noexcept nogil:
    """patches[(b, t), (j, c)] := inputs[b, t * stride - padding + j, c], 0 outside."""
    cdef int64_t b, t, j, position
    cdef int channels = layer.in_channels
    cdef floating* row
    for b in range(n_rows):
        for t in range(layer.out_length):
            row = patches + (b * layer.out_length + t) * layer.weight_rows
            for j in range(layer.kernel):
                position = t * layer.stride - layer.padding + j
                if 0 <= position < layer.in_length:
                    memcpy(row + j * channels,
                           inputs + (b * layer.in_length + position) * channels,
                           channels * sizeof(floating))
                else:
                    memset(row + j * channels, 0, channels * sizeof(floating))


cdef void _col2im(DenseLayer* layer, const floating* patches, floating* inputs,
                  int n_rows) noexcept nogil:
    """The adjoint of _im2col: inputs := sum of the patch entries over where they came from."""
    cdef int64_t b, t, j, c, position
    cdef int channels = layer.in_channels
    cdef const floating* row
    cdef floating* target
    memset(inputs, 0, <int64_t> n_rows * layer.n_in * sizeof(floating))
    for b in range(n_rows):
        for t in range(layer.out_length):
            row = patches + (b * layer.out_length + t) * layer.weight_rows
            for j in range(layer.kernel):
                position = t * layer.stride - layer.padding + j
                if 0 <= position < layer.in_length:
                    target = inputs + (b * layer.in_length + position) * channels
                    for c in range(channels):
                        target[c] += row[j * channels + c]


cdef void _moving_average(floating* average, const floating* values, int64_t size,
                          double decay) noexcept nogil:
    """average := decay * average + (1 - decay) * values."""
    cdef int64_t i
    cdef floating keep = <floating> decay
    cdef floating take = <floating> (1 - decay)
    for i in range(size):
        average[i] = keep * average[i] + take * values[i]
