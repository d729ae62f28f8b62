/*
 * The neural-network engine: multi-task CNNs trained and run in C.
 *
 *   rng        facet_rng: xoshiro256** seeded by splitmix64, counter-derived streams
 *   layers     one small interface (setup / init / alloc / forward / backward / release),
 *              one .c per kind: conv, maxpool, batchnorm, dense, dropout, relu, flatten, gap
 *   heads      age (regression), gender (binary), ethnicity (5 classes): losses in loss.c
 *   net        a trunk and up to three heads, built from a text config (config.c, man
 *              facet-config(5))
 *   optimizer  Adam / AdamW, L2, learning-rate schedules (optim.c)
 *   model      the model file and checkpoints (model.c, one msgpack map)
 *   training   data sets held as uint8, batches with augmentation, steps, evaluation, early
 *              stopping and the plateau schedule (train.c)
 *
 * Tensors are fp32 NCHW. Every kernel has a plain-C reference; with net->fast set, layers call the
 * fast plans of fastops.h instead (oneDNN's, or OpenMP loops where oneDNN is slow: max pooling and
 * batch norm, whose loops sit beside their reference). Same seed, same fp32 result: everything
 * random comes from streams derived from (seed, epoch, step, sample), never from the order threads
 * run in.
 */
#ifndef FACET_NN_H
#define FACET_NN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "facet.h"

/* ---------------------------------------------------------------- random numbers */

typedef struct {
	uint64_t s[4];
} facet_rng;

void facet_rng_seed(facet_rng *r, uint64_t seed);
/* A seed for the stream numbered (a, b, c) of seed: a hash, so streams are independent. */
uint64_t facet_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t facet_rng_u64(facet_rng *r);
double facet_rng_uniform(facet_rng *r);             /* [0, 1) */
double facet_rng_normal(facet_rng *r);              /* mean 0, variance 1 */
uint32_t facet_rng_below(facet_rng *r, uint32_t n); /* 0 .. n-1 */

/* ---------------------------------------------------------------- layers */

typedef enum {
	FACET_CONV,
	FACET_MAXPOOL,
	FACET_BATCHNORM,
	FACET_DENSE,
	FACET_DROPOUT,
	FACET_RELU,
	FACET_FLATTEN,
	FACET_GAP,
	FACET_LAYER_KINDS
} facet_layer_kind;

typedef enum { FACET_ACT_LINEAR, FACET_ACT_RELU, FACET_ACT_SIGMOID, FACET_ACT_SOFTMAX } facet_act;

/* A parameter tensor (trainable when grad != NULL) or a state tensor (batch-norm running stats). */
typedef struct {
	char name[48]; /* "trunk.0.w", "age.2.running_mean" */
	int ndim;
	int64_t shape[4];
	size_t n;
	float *data;
	float *grad;  /* NULL for state */
	int decay;    /* weight decay / L2 applies (weights, not biases or batch-norm) */
	float *m, *v; /* Adam moments (trainable only) */
} facet_param;

typedef struct facet_layer facet_layer;

typedef struct {
	const char *name; /* the config section: "conv" */
	/* From l->ic/ih/iw and the hyper-parameters: the output shape and the parameter shapes.
	 * Returns NULL or a message ("input 2x2 is smaller than the window"). */
	const char *(*setup)(facet_layer *l);
	void (*init)(facet_layer *l, facet_rng *rng); /* parameter initialisation (He / ones) */
	void (*alloc)(facet_layer *l);                /* kind-specific batch buffers, fast plans */
	/* x [n, ic, ih, iw] -> l->y [n, oc, oh, ow]; train selects batch statistics and dropout. */
	void (*forward)(facet_layer *l, const float *x, int train);
	/* l->dy [n, oc, oh, ow] (may be modified) -> dx [n, ic, ih, iw] (skipped when NULL) and the
	 * parameter gradients (overwritten). x is the forward input, l->y its output. */
	void (*backward)(facet_layer *l, const float *x, float *dx);
	void (*release)(facet_layer *l); /* free what alloc made */
} facet_layer_ops;

struct facet_layer {
	facet_layer_kind kind;
	const facet_layer_ops *ops;
	int line; /* of its section in the config */
	/* hyper-parameters: those of the kind are used */
	int filters, size, stride, pad, units, act; /* pad: 1 same, 0 valid; act: facet_act */
	float rate, eps, momentum;
	unsigned given; /* bit i: the config gave key i of the section (the rest are defaults) */
	/* one sample's shape, in and out: [C, H, W]; flat tensors are [F, 1, 1] */
	int ic, ih, iw, oc, oh, ow;
	facet_param
	    param[4]; /* conv/dense: w, b; batchnorm: gamma, beta, running_mean, running_var */
	int nparam;
	/* batch state, sized by alloc for n samples */
	int n;
	float *y, *dy; /* [n, oc, oh, ow] */
	float *save;   /* batchnorm: batch mean, var [2C]; dropout: mask [n, oc*oh*ow] */
	int32_t *arg;  /* maxpool: argmax per output */
	void *fast;    /* the fastops plan, when the net runs the fast path */
	int use_fast, precision;
	int skip; /* folded away by facet_net_fold: forward passes its input through */
	/* Fast path only, set per allocation: a [batchnorm] applies the [relu] right after it; that
	 * [relu] does nothing and its y, dy are the batch norm's (see alloc_layers in net.c). */
	int fused;
	/* Fast path only, set per allocation: such a [batchnorm] with its [relu] also does the 2x2
	 * stride-2 [maxpool] after them (FACET_FAST_POOL_BLOCKED or _PLAIN, the pooling's y layout);
	 * that [maxpool] is fused too, and the batch norm's y, dy are the pooling's. */
	int pooled;
	/* Fast path only, set per allocation: x and dx (x_blocked), y and dy (y_blocked) are in the
	 * blocked layout of fastops.h, not NCHW (see alloc_layers in net.c). */
	int x_blocked, y_blocked;
	facet_rng *rng; /* dropout: the net's step stream */
	/* int8 scoring (nn/quant.h): the calibrated range of this conv's output, from the model
	 * file (0: none), and whether the layer runs in the int8 part of the trunk */
	float q8_range;
	int q8;
};

extern const facet_layer_ops facet_conv_ops, facet_maxpool_ops, facet_batchnorm_ops,
    facet_dense_ops, facet_dropout_ops, facet_relu_ops, facet_flatten_ops, facet_gap_ops;
const facet_layer_ops *facet_layer_ops_of(facet_layer_kind k);

/* Shared by the layers: apply / back-propagate a fused activation (ReLU) on y [count]. */
void facet_act_forward(int act, float *y, size_t count);
void facet_act_backward(int act, const float *y, float *dy, size_t count);

/* Reference kernels, exported for the tests (shapes beside each argument). */
void facet_ref_conv_forward(const float *x /* [N,C,H,W] */, const float *w /* [K,C,R,S] */,
                            const float *b /* [K] */, float *y /* [N,K,OH,OW] */, int N, int C,
                            int H, int W, int K, int R, int S, int stride, int pad);
void facet_ref_conv_backward(const float *x /* [N,C,H,W] */, const float *w /* [K,C,R,S] */,
                             const float *dy /* [N,K,OH,OW] */, float *dx /* [N,C,H,W] or NULL */,
                             float *dw /* [K,C,R,S] */, float *db /* [K] */, int N, int C, int H,
                             int W, int K, int R, int S, int stride, int pad);
void facet_ref_dense_forward(const float *x /* [N,I] */, const float *w /* [O,I] */,
                             const float *b /* [O] */, float *y /* [N,O] */, int N, int I, int O);
void facet_ref_dense_backward(const float *x /* [N,I] */, const float *w /* [O,I] */,
                              const float *dy /* [N,O] */, float *dx /* [N,I] or NULL */,
                              float *dw /* [O,I] */, float *db /* [O] */, int N, int I, int O);

/* ---------------------------------------------------------------- heads and losses */

typedef enum {
	FACET_HEAD_AGE,
	FACET_HEAD_GENDER,
	FACET_HEAD_ETHNICITY,
	FACET_HEADS
} facet_head_kind;
typedef enum {
	FACET_LOSS_MSE,
	FACET_LOSS_L1,
	FACET_LOSS_SMOOTHL1,
	FACET_LOSS_BCE,
	FACET_LOSS_CE,
	FACET_LOSS_DLDL
} facet_loss_kind;

extern const char *const facet_head_names[FACET_HEADS]; /* age gender ethnicity */
extern const char *const facet_loss_names[];            /* mse l1 smoothl1 bce ce dldl */
int facet_head_units(facet_head_kind h);                /* 1, 1, 5 (dldl: any, see below) */

/* How a head's loss is computed. units: outputs of the head's last layer. scale: dz is
 * scale * d(mean loss)/dz (the head's weight). dldl (label-distribution learning for age): output
 * j is the logit of age j years, j < units; the target is a Gaussian of spread sigma years around
 * the true age, normalised over the bins; the loss is KL(target || softmax(z)) plus
 * l1 * |E[age] - age| / age_std, E[age] = sum_j j softmax(z)_j. age_mean, age_std map the
 * normalised target back to years (dldl only). smoothing (bce, ce; label smoothing): the target
 * is (1 - smoothing) * the label + smoothing spread evenly over the classes (bce: t becomes
 * t (1 - smoothing) + smoothing / 2; ce: the one-hot row becomes it times 1 - smoothing plus
 * smoothing / units). distill (bce, ce; distillation): with soft != NULL the target is
 * (1 - distill) * that (smoothed) label + distill * the teacher's probabilities soft [n, units]
 * (bce: the probability of class 1). */
typedef struct {
	facet_loss_kind kind;
	int units;
	float scale;
	float sigma, l1;
	float age_mean, age_std;
	float smoothing;
	float distill;
	const float *soft;
} facet_loss_args;

/* The most outputs a head's last layer may have (a dldl age head's K; ce has 5). */
enum { FACET_LOSS_MAX_UNITS = 256 };

/* z [n, units] outputs of the head's last layer; t [n] targets (age: normalised float; classes:
 * the class index), have [n] whether sample i has a label. Returns the mean loss over the labelled
 * samples (0 when none) and writes dz [n, units] = scale * d(mean loss)/dz (zero rows for the
 * unlabelled; dz may be NULL). *count gets the number of labelled samples. */
double facet_loss(const facet_loss_args *a, const float *z, const float *t,
                  const unsigned char *have, int n, float *dz, int *count);

/* softmax(z) of n <= FACET_LOSS_MAX_UNITS logits into p[n], in double; returns the log of the
 * normaliser (log p_j = z_j - the return value). */
double facet_softmax(const float *z, int n, double *p);
/* dldl: the expected age in years, sum_j j softmax(z)_j, of one sample's units logits. */
double facet_dldl_age(const float *z, int units);

typedef struct {
	int present;
	facet_loss_kind loss;
	float weight;
	float smoothing; /* bce and ce only (facet_loss_args) */
	float distill;   /* bce and ce only (facet_loss_args): the teacher's share of the target */
	float sigma, l1; /* dldl only (facet_loss_args) */
	int line;
	unsigned given;
	facet_layer *layer;
	int nlayer;
} facet_head;

/* ---------------------------------------------------------------- the network */

typedef enum { FACET_NORM_UNIT, FACET_NORM_CENTER, FACET_NORM_DATASET } facet_norm;
typedef enum { FACET_OPT_ADAM, FACET_OPT_ADAMW } facet_opt_kind;
typedef enum {
	FACET_SCHED_NONE,
	FACET_SCHED_STEP,
	FACET_SCHED_COSINE,
	FACET_SCHED_PLATEAU
} facet_sched_kind;

typedef struct {
	int width, height, channels, norm; /* norm: facet_norm */
	float mean[3], std[3];             /* x' = (x/255 - mean) / std, per channel */
	int line;
	unsigned given;
} facet_input_cfg;

typedef struct {
	int optimizer; /* facet_opt_kind */
	float lr, beta1, beta2, eps, weight_decay, l2;
	int batch, epochs;
	int schedule; /* facet_sched_kind */
	int step_size;
	float gamma, min_lr, plateau_factor;
	int plateau_patience;
	int patience, restore_best;
	int flip, shift;
	float brightness, contrast;
	float rotate, scale; /* degrees; fraction of zoom (1 +- scale) */
	int checkpoint_steps;
	int line;
	unsigned given;
} facet_train_cfg;

typedef struct {
	facet_input_cfg input;
	facet_train_cfg train;
	facet_layer *trunk;
	int ntrunk;
	facet_head head[FACET_HEADS];
	float age_mean, age_std; /* age targets: (age - mean) / std (mse/l1/smoothl1 predict it) */
	/* every parameter and state tensor, in a fixed order */
	facet_param **param;
	int nparam;
	/* batch state */
	int n;                            /* batch size the buffers are allocated for (0: none) */
	float *x;                         /* [n, C, H, W]: the input batch */
	float *target[FACET_HEADS];       /* [n] */
	unsigned char *have[FACET_HEADS]; /* [n] */
	/* [n, units] a teacher's probabilities for the heads with distill > 0 (gender: p_female,
	 * ethnicity: the 5 classes), filled with the batch when its data set has them; NULL else */
	float *soft[FACET_HEADS];
	int soft_on;     /* the batch in x has soft targets (training on a set with them) */
	float *trunk_dy; /* [n, trunk out]: the heads' gradients summed */
	int fast, precision;
	int folded;    /* facet_net_fold ran: inference only */
	facet_rng rng; /* the current step's stream (dropout) */
	/* int8 scoring (nn/quant.h): the model file's calibration (q8_samples 0: none), the range
	 * of the normalised input, and with precision int8 the plans of the int8 part */
	int q8_samples;
	float q8_input;
	struct facet_q8_net *q8;
} facet_net;

/* Parse a config (text of name, for messages). Returns the net, or NULL with "what (name, line
 * N)" in err. Shapes are checked; parameters are allocated but not initialised. */
facet_net *facet_net_parse(const char *text, const char *name, char *err, size_t errlen);
/* The same from a file. */
facet_net *facet_net_load_config(const char *path, char *err, size_t errlen);
/* Write the config with every default filled in (a loadable config). With defaults_only, write
 * one line per section that had defaults filled in, naming just those keys (for the echo). */
void facet_net_write_config(const facet_net *net, FILE *f, int defaults_only);
/* The canonical config as a malloc'd string. */
char *facet_net_config_string(const facet_net *net);
void facet_net_free(facet_net *net);

void facet_net_init_params(facet_net *net, uint64_t seed);
/* Select the fast path (oneDNN) or the reference, and the precision (FACET_PREC_INT8: the net
 * must be folded and calibrated, see nn/quant.h); call before facet_net_alloc. */
void facet_net_set_path(facet_net *net, int fast, int precision);
/* (Re)allocate every batch buffer and fast plan for batches of n. */
void facet_net_alloc(facet_net *net, int n);
size_t facet_net_param_count(const facet_net *net); /* trainable scalars */
/* A head's output logits [n, units] after forward. */
const float *facet_net_head_output(const facet_net *net, facet_head_kind h);
/* The inference form of the net, for scoring: each batch norm that directly follows a conv or
 * dense layer with linear activation is folded into that layer's weights and bias (running
 * statistics: w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta);
 * a ReLU that then follows is fused into the layer (a oneDNN post-op on the fast path); dropout
 * layers are skipped. Outputs agree with the unfolded net's inference within float rounding.
 * Call before facet_net_alloc. Afterwards the net cannot train or be saved. Returns the number
 * of layers skipped. */
int facet_net_fold(facet_net *net);
/* Forward net->x through the trunk and every head. */
void facet_net_forward(facet_net *net, int train);
/* Loss of the last forward against net->target/have; with backward, also every gradient.
 * per_head[h] gets each head's mean loss (NAN for an absent head or none labelled), count[h]
 * the labelled samples; either may be NULL. */
double facet_net_loss_backward(facet_net *net, int backward, double per_head[FACET_HEADS],
                               int count[FACET_HEADS]);
/* Whether the net learns any head against a teacher (a head with distill > 0). */
int facet_net_distills(const facet_net *net);
/* The age in years the age head's outputs z (of the last forward) give for sample i. */
double facet_net_age(const facet_net *net, const float *z, int i);
/* Predictions of sample i of the last forward: age in years, probabilities. */
void facet_net_pred(const facet_net *net, int i, facet_pred *p);

/* ---------------------------------------------------------------- optimizer and schedules */

/* One Adam/AdamW update of every trainable parameter with learning rate lr; t is the 1-based
 * step number (bias correction). Allocates the moments on first use. */
void facet_optim_step(facet_net *net, float lr, int64_t t);
/* The scheduled learning rate for epoch (0-based). plateau_lr is the current plateau value. */
float facet_schedule_lr(const facet_train_cfg *c, int epoch, int epochs, float plateau_lr);

/* ---------------------------------------------------------------- data */

/* Images held as uint8 [n, H, W, C] in the net's input geometry, labels -1 when unknown, and
 * optionally a teacher's probabilities (soft[h] [n, soft_units[h]], for distillation: set
 * soft_units before the first facet_dataset_add; 0 keeps none for that head). */
typedef struct {
	int h, w, c;
	size_t n, cap;
	uint8_t *pix;
	int16_t *label[FACET_HEADS];
	int soft_units[FACET_HEADS];
	float *soft[FACET_HEADS];
} facet_dataset;

void facet_dataset_init(facet_dataset *d, int h, int w, int c);
/* Add one sample; soft[h] (soft_units[h] values) for each head that keeps them (NULL if none). */
void facet_dataset_add(facet_dataset *d, const uint8_t *img, const int label[FACET_HEADS],
                       const float *const soft[FACET_HEADS]);
void facet_dataset_free(facet_dataset *d);
uint64_t facet_dataset_checksum(const facet_dataset *d);
/* Convert an image [H, W, C] uint8 of any geometry to the net's input (resize, grey/RGB) into
 * out [h*w*c]. Returns NULL or a message. */
const char *facet_net_prepare_image(const facet_net *net, const facet_tensor *img, uint8_t *out);

/* Fill net->x row i from an image in the net's geometry; with aug_seed != 0 augment it (a random
 * view, as facet_view, then brightness/contrast jitter, as the net's [train] section says). */
void facet_net_set_input(facet_net *net, int i, const uint8_t *img, uint64_t aug_seed);
/* A geometric view of an image: out(y, x) = in(y + dy, x' + dx), x' = w - 1 - x when flip, else
 * x; coordinates clamped to the image (the edge replicated). Training's flip and shift
 * augmentation draws one; facet-score's test-time views name them. */
typedef struct {
	int flip, dx, dy;
} facet_view;
/* Fill net->x row i from view v of an image in the net's geometry (no photometric change). */
void facet_net_set_input_view(facet_net *net, int i, const uint8_t *img, facet_view v);
/* A turn (radians, counter-clockwise as the image is shown) and a zoom (magnification: 1 none,
 * 2 shows the central half) about the image centre, (H-1)/2, (W-1)/2. Training's rotate and
 * scale augmentation draws one. */
typedef struct {
	float turn, zoom;
} facet_warp;
/* Fill net->x row i from view v of an image warped by w: out(y, x) = in at
 * c + R(turn) (p - c) / zoom + (dy, dx), p = (y, x') with x' flipped as in facet_view,
 * sampled bilinearly with coordinates clamped to the image. */
void facet_net_set_input_warp(facet_net *net, int i, const uint8_t *img, facet_view v,
                              facet_warp w);
/* Fill the batch from samples idx[0..k) of d (rows k..n-1 are zero and unlabelled). */
void facet_net_fill_batch(facet_net *net, const facet_dataset *d, const size_t *idx, int k,
                          uint64_t seed, uint64_t epoch, uint64_t step, int augment);
/* The same for part of a step's batch whose first sample is sample first of the whole batch:
 * sample i draws the augmentation sample first + i of the whole batch would (data-parallel
 * training, where each rank fills its own part). */
void facet_net_fill_batch_at(facet_net *net, const facet_dataset *d, const size_t *idx, int k,
                             uint64_t seed, uint64_t epoch, uint64_t step, int first, int augment);
/* Set input normalisation (norm=dataset) and the age target scaling from a training set. */
void facet_net_fit_data(facet_net *net, const facet_dataset *d);

/* Per-split figures, each NAN when not measured. */
typedef struct {
	double loss, age_mae, gender_acc, ethnicity_acc;
} facet_metrics;

/* Running sums for metrics over batches. */
typedef struct {
	double loss_sum;
	double batches;
	double ae_sum, age_n, g_ok, g_n, e_ok, e_n;
} facet_metric_sums;

void facet_metric_add(facet_metric_sums *s, const facet_net *net, int k, double loss);
void facet_metric_finish(const facet_metric_sums *s, const facet_net *net, facet_metrics *m);
/* Evaluate d in batches of net->n, no augmentation, inference mode. */
void facet_net_evaluate(facet_net *net, const facet_dataset *d, facet_metrics *m);

/* ---------------------------------------------------------------- model files and checkpoints */

#define FACET_MODEL_FORMAT "facet-model"
#define FACET_MODEL_VERSION 1

typedef struct {
	int epoch;
	double lr, time_s, images_per_s;
	facet_metrics train, val;
	int has_val;
} facet_epoch_log;

/* Training state: what a checkpoint adds to a model so training resumes exactly. */
typedef struct {
	uint64_t seed;
	int epochs;       /* total planned */
	int epoch;        /* epochs completed */
	int step;         /* steps completed in the current epoch */
	int64_t t;        /* optimizer steps taken */
	float plateau_lr; /* current learning rate under the plateau schedule */
	double plateau_best;
	int plateau_bad;
	double best; /* early stopping: best monitored value */
	int best_epoch, bad_epochs;
	int stopped;            /* early stopping fired */
	facet_metric_sums sums; /* the current epoch's running training sums */
	double time_s;          /* training time so far */
	uint64_t data_sum;      /* checksum of the training data */
	size_t samples, val_samples;
	facet_epoch_log *log; /* one per completed epoch */
	int nlog, caplog;
	float **best_param; /* copy of every param at the best epoch (NULL: none) */
} facet_train_state;

void facet_train_state_init(facet_train_state *s);
void facet_train_state_free(facet_train_state *s);
void facet_train_state_log(facet_train_state *s, const facet_epoch_log *e);
/* Remember the current parameters as the best / put the best back. */
void facet_train_state_keep_best(facet_train_state *s, const facet_net *net);
void facet_train_state_restore_best(const facet_train_state *s, facet_net *net);

/* What the state decides after each epoch, from c's keys (facet-config(5), [train]). The loss
 * watched is the epoch's validation loss when it has one, else its training loss.
 *   early stopping  patience epochs in a row without a better loss than the best so far stop
 *                   the run (patience 0: never); with restore_best the weights of the best
 *                   epoch are kept, and put back at the end
 *   plateau         under schedule=plateau, plateau_patience epochs without a better loss cut
 *                   the learning rate by plateau_factor, down to min_lr at the lowest */
enum { FACET_TRAIN_EARLY_STOP = 1, FACET_TRAIN_LR_CUT = 2 };
/* A new run: the plateau schedule starts from c's lr (a checkpoint carries where it stands). */
void facet_train_schedule_init(facet_train_state *s, const facet_train_cfg *c);
/* The learning rate of epoch (0-based) of s->epochs under c's schedule. */
float facet_train_schedule_lr(const facet_train_state *s, const facet_train_cfg *c, int epoch);
/* After epoch e (e->epoch is 1-based): update the best loss and its epoch (keeping its weights
 * with restore_best), early stopping (s->stopped) and the plateau learning rate
 * (s->plateau_lr). Returns what happened: FACET_TRAIN_EARLY_STOP when the run stops here,
 * FACET_TRAIN_LR_CUT when the plateau schedule cut the rate (even if min_lr held it), or 0. */
int facet_train_schedule_update(facet_train_state *s, const facet_net *net,
                                const facet_epoch_log *e);
/* At the end of the run, with restore_best: put back the best epoch's weights unless the last
 * epoch (s->epoch) was the best. 1 when it did, else 0. */
int facet_train_schedule_finish(const facet_train_state *s, facet_net *net);

/* Pack one epoch's record (the metrics file's format, facet-metrics(5)). */
void facet_epoch_log_pack(msgpack_packer *pk, const facet_net *net, const facet_epoch_log *e);

/* Write a model, or with checkpoint a checkpoint (st required), atomically; st (may be NULL
 * for a model) adds how it was trained. 0 ok, -1 with a message in err. */
int facet_model_save(const facet_net *net, const facet_train_state *st, int checkpoint,
                     const char *path, char *err, size_t errlen);
/* Load a model or checkpoint; st (may be NULL) receives the training state of a checkpoint
 * (st->epochs == 0 for a plain model). NULL with a message on error. */
facet_net *facet_model_load(const char *path, facet_train_state *st, char *err, size_t errlen);

/* A model file may hold several models one after the other (an ensemble: `cat A B > E`), whose
 * predictions facet-score averages; facet_model_load refuses such a file. */
#define FACET_MAX_MEMBERS 64
/* Load every model in the file into a new array *nets: the count (>= 1), or -1 with a message
 * in err (which names the model from the second on: "what (PATH, model K)"). */
int facet_model_load_all(const char *path, facet_net ***nets, char *err, size_t errlen);
/* Copy the model file in to out (atomically; it may be in itself), each of its count models
 * given the int8 calibration of nets[m] (facet-quantize; an older one is replaced): every other
 * key is kept as it was. 0 ok, -1 with a message in err. */
int facet_model_save_int8(const char *in, facet_net *const *nets, int count, const char *out,
                          char *err, size_t errlen);

#endif
