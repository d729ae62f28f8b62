/*
 * int8 scoring: post-training quantization of a folded net (facet-quantize, facet-score --int8).
 *
 * The int8 part of a net is the start of its trunk made of convolutions (batch norm folded in,
 * ReLU fused) and max poolings, up to its last convolution there; the rest (flatten, the heads'
 * dense layers, softmax) stays fp32: for the shipped nets the convolutions are all but 0.05 % of
 * the multiply-adds. In the int8 part:
 *
 *   input   x' (normalised, fp32) -> int8 codes of scale q8_input / 127 (q8_input bounds |x'|:
 *           it follows from the input normalisation, nothing is clipped)
 *   conv    int8 weights, one scale per output channel (max |w| / 127; 7-bit where oneDNN
 *           halves them, see facet_q8_quantize_weights), int32 accumulation,
 *           then bias and ReLU in fp32 and requantization to the next layer's codes: uint8
 *           after ReLU (0..levels, levels = facet_fast_q8_u8_levels()), int8 otherwise, of
 *           scale q8_range / levels; the last convolution gives fp32 instead
 *   maxpool on the codes themselves (max commutes with a positive scale)
 *
 * q8_range, per convolution but the last, is calibrated on a stream of faces: a histogram of the
 * layer's outputs over the stream (in the fp32 folded net), and the clip that minimises the
 * expected squared error of the quantized values (clipping above it, rounding below it).
 *
 * Two engines, as elsewhere: oneDNN (fastops.h, NHWC codes between layers) and the plain-C
 * reference kernels below (NCHW), which the tests hold the oneDNN path to.
 */
#ifndef FACET_NN_QUANT_H
#define FACET_NN_QUANT_H

#include "nn/fastops.h"
#include "nn/nn.h"

/* The bounds a model file's ranges must keep (facet-model(5)). */
#define FACET_Q8_RANGE_MIN 1e-6
#define FACET_Q8_RANGE_MAX 1e6

/* The index of the last convolution of the int8 part of net's trunk (folded or not: skipped
 * layers are passed over), or -1 when the trunk does not start with convolutions. */
int facet_q8_last(const facet_net *net);
/* NULL when the folded net can run in int8 (it has an int8 part, and every convolution there
 * but the last has a range), else a message saying what is missing. */
const char *facet_q8_check(const facet_net *net);
/* The bound of |x'| for the net's input normalisation: max over channels of
 * max(|0 - mean|, |1 - mean|) / std. */
float facet_q8_input_range(const facet_net *net);

/* Per-output-channel int8 weights: w [K, per] -> q [K, per] in -127..127, scale [K] =
 * max |w_k| / 127 (1 for an all-zero row). With even, 7-bit weights in even codes: q = 2
 * round(w / (2 scale)) with scale = max |w_k| / 126, what oneDNN's kernels hold exactly where it
 * halves the weights of a convolution on int8 input (without VNNI: its "scale adjust"). */
void facet_q8_quantize_weights(const float *w /* [K, per] */, int K, size_t per, int even,
                               int8_t *q /* [K, per] */, float *scale /* [K] */);

/* ---- reference kernels (plain C, NCHW), what the oneDNN plans are tested against */

/* q[i] = round(x[i] / scale) (ties to even), saturated to 0..levels (uint8) or -128..127 (int8,
 * levels ignored). */
void facet_ref_q8_quantize(const float *x /* [n] */, void *q /* [n] */, size_t n, float scale,
                           int is_signed, int levels);
/* The convolution of fastops.h, with x [N,C,H,W] and y [N,K,OH,OW] (every y_type). */
void facet_ref_q8_conv_forward(const facet_q8_conv_args *a, const void *x /* [N,C,H,W] */,
                               void *y /* [N,K,OH,OW] */);
/* Max pooling of codes, window k, stride s, no padding: x [N,C,H,W] -> y [N,C,OH,OW]. */
void facet_ref_q8_pool_forward(const void *x /* [N,C,H,W] */, void *y /* [N,C,OH,OW] */, int N,
                               int C, int H, int W, int k, int s, int is_signed);

/* ---- the int8 part of a net, for facet_net_alloc and facet_net_forward */

typedef struct facet_q8_net facet_q8_net;
/* Plans (fast: oneDNN, else the reference kernels) for batches of n of the folded, calibrated
 * net (facet_q8_check is NULL); marks the layers of the int8 part (l->q8). */
facet_q8_net *facet_q8_new(facet_net *net, int n, int fast);
/* net->x -> the int8 part -> the fp32 output of its last convolution, in that layer's y. */
void facet_q8_forward(facet_q8_net *q, const facet_net *net);
void facet_q8_free(facet_q8_net *q);

/* ---- calibration (facet-quantize) */

typedef struct facet_q8_calib facet_q8_calib;
/* For a folded fp32 net (allocated for its batches). */
facet_q8_calib *facet_q8_calib_new(const facet_net *net);
/* Take in the outputs of the last facet_net_forward for its first k samples. */
void facet_q8_calib_add(facet_q8_calib *c, const facet_net *net, int k);
/* Set net->q8_input, every range the int8 part needs and q8_samples. Returns the samples seen. */
long facet_q8_calib_finish(facet_q8_calib *c, facet_net *net);
void facet_q8_calib_free(facet_q8_calib *c);

#endif
