/*
 * The fast path on oneDNN (Debian libdnnl-dev 2.6, C API): see fastops.h for the contract.
 *
 * Every plan follows one pattern. The caller's tensors are plain fp32 (NCHW, KCRS, [O,I]); each
 * primitive is created with format "any" so oneDNN picks its preferred (blocked) layout and, in
 * bf16, its data type. A "port" joins the two: it wraps the caller's buffer (handle set per call)
 * and, only when the layouts differ, owns an inner buffer and the reorder between them. All
 * buffers, reorders and scratchpads are made once, in _new, so a step allocates nothing.
 *
 * The fast max pooling and batch norm of fastops.h are not here: they are OpenMP loops on the
 * plain layout, beside their reference kernels in maxpool.c and batchnorm.c (oneDNN's
 * plain-layout kernels for them are slow, and its blocked ones would need reorders).
 *
 * One CPU engine and one in-order stream for the process; threads are OpenMP's.
 */
#include "nn/fastops.h"

#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "facet.h"

static dnnl_engine_t fast_engine;
static dnnl_stream_t fast_stream;
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

#define DNNL(call)                                                                                 \
	do {                                                                                       \
		dnnl_status_t st_ = (call);                                                        \
		if (st_ != dnnl_success)                                                           \
			die("oneDNN: %s failed with status %d (%s:%d)", #call, (int)st_, __FILE__, \
			    __LINE__);                                                             \
	} while (0)

static void fast_init_once(void)
{
	DNNL(dnnl_engine_create(&fast_engine, dnnl_cpu, 0));
	DNNL(dnnl_stream_create(&fast_stream, fast_engine, dnnl_stream_default_flags));
}

static void fast_init(void)
{
	pthread_once(&fast_once, fast_init_once);
}

int facet_fast_has_bf16(void)
{
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
	       (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

/* 0: OMP_NUM_THREADS when set, else every core. */
void facet_fast_set_threads(int n)
{
	if (n > 0)
		omp_set_num_threads(n);
	else if (!getenv("OMP_NUM_THREADS"))
		omp_set_num_threads(omp_get_num_procs());
}

int facet_fast_block(void)
{
	unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), avx512 = (unsigned)dnnl_cpu_isa_avx512_core;
	return (isa & avx512) == avx512 ? 16 : 8;
}

/* The plain or the blocked layout of an activation tensor dims [N,C,H,W]. */
static void md_act(dnnl_memory_desc_t *md, const dnnl_dims_t dims, int blocked)
{
	dnnl_format_tag_t tag = !blocked ? dnnl_nchw : facet_fast_block() == 16 ? dnnl_aBcd16b : dnnl_aBcd8b;
	DNNL(dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag));
}

/* The data type a plan computes in: bf16 only where asked for and native. */
static dnnl_data_type_t compute_type(int precision)
{
	return precision == FACET_PREC_BF16 && facet_fast_has_bf16() ? dnnl_bf16 : dnnl_f32;
}

/* ---------------------------------------------------------------- helpers */

static void md_plain(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                     dnnl_format_tag_t tag)
{
	DNNL(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
}

static void md_any(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims, dnnl_data_type_t dt)
{
	DNNL(dnnl_memory_desc_init_by_tag(md, ndims, dims, dt, dnnl_format_tag_any));
}

/* One primitive with its descriptor and its own scratchpad (scratchpad mode "user", so
 * execution never allocates). */
typedef struct {
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t prim;
	dnnl_memory_t scratch; /* NULL when none is needed */
} fast_op;

/* Make op from desc with attr (its scratchpad mode is set here). Returns 0, or -1 when oneDNN has
 * no implementation for desc (then op is left empty). */
static int op_make_attr(fast_op *op, const_dnnl_op_desc_t desc, dnnl_primitive_attr_t attr,
                        const_dnnl_primitive_desc_t hint)
{
	DNNL(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
	dnnl_status_t st = dnnl_primitive_desc_create(&op->pd, desc, attr, fast_engine, hint);
	if (st == dnnl_unimplemented) {
		op->pd = NULL;
		return -1;
	}
	DNNL(st);
	DNNL(dnnl_primitive_create(&op->prim, op->pd));
	const dnnl_memory_desc_t *smd =
	    dnnl_primitive_desc_query_md(op->pd, dnnl_query_scratchpad_md, 0);
	op->scratch = NULL;
	if (smd && dnnl_memory_desc_get_size(smd) > 0)
		DNNL(dnnl_memory_create(&op->scratch, smd, fast_engine, DNNL_MEMORY_ALLOCATE));
	return 0;
}

/* relu: a ReLU post-op on the output (forward primitives only). As op_make_attr. */
static int op_make(fast_op *op, const_dnnl_op_desc_t desc, int relu,
                   const_dnnl_primitive_desc_t hint)
{
	dnnl_primitive_attr_t attr;
	dnnl_post_ops_t po = NULL;
	DNNL(dnnl_primitive_attr_create(&attr));
	if (relu) {
		DNNL(dnnl_post_ops_create(&po));
		DNNL(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
		DNNL(dnnl_primitive_attr_set_post_ops(attr, po));
	}
	int rc = op_make_attr(op, desc, attr, hint);
	DNNL(dnnl_primitive_attr_destroy(attr));
	if (po)
		DNNL(dnnl_post_ops_destroy(po));
	return rc;
}

/* A bf16 plan that oneDNN cannot build here is built in fp32 instead, said once. */
static void bf16_fallback(const char *what)
{
	static int said;
	if (!said++)
		warn("bf16 %s not available in oneDNN here; running fp32", what);
}

static const dnnl_memory_desc_t *op_md(const fast_op *op, dnnl_query_t what, int index)
{
	return dnnl_primitive_desc_query_md(op->pd, what, index);
}

/* Run op; args has room for one more entry, the scratchpad, added here. */
static void op_run(const fast_op *op, int nargs, dnnl_exec_arg_t *args)
{
	if (op->scratch)
		args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, op->scratch};
	DNNL(dnnl_primitive_execute(op->prim, fast_stream, nargs, args));
}

static void op_free(fast_op *op)
{
	if (op->scratch)
		dnnl_memory_destroy(op->scratch);
	if (op->prim)
		dnnl_primitive_destroy(op->prim);
	if (op->pd)
		dnnl_primitive_desc_destroy(op->pd);
	memset(op, 0, sizeof *op);
}

/* A caller's plain fp32 buffer and the layout a primitive wants for it. */
typedef struct {
	dnnl_memory_t user;       /* caller's buffer; handle set per call */
	dnnl_memory_t inner;      /* what the primitive uses; == user when the layouts agree */
	dnnl_primitive_t reorder; /* user -> inner (input) or inner -> user (output); or NULL */
} fast_port;

static void port_init(fast_port *pt, const dnnl_memory_desc_t *user_md,
                      const dnnl_memory_desc_t *prim_md, int output)
{
	dnnl_primitive_desc_t pd;

	DNNL(dnnl_memory_create(&pt->user, user_md, fast_engine, DNNL_MEMORY_NONE));
	pt->reorder = NULL;
	if (dnnl_memory_desc_equal(user_md, prim_md)) {
		pt->inner = pt->user;
		return;
	}
	DNNL(dnnl_memory_create(&pt->inner, prim_md, fast_engine, DNNL_MEMORY_ALLOCATE));
	if (output)
		DNNL(dnnl_reorder_primitive_desc_create(&pd, prim_md, fast_engine, user_md,
		                                        fast_engine, NULL));
	else
		DNNL(dnnl_reorder_primitive_desc_create(&pd, user_md, fast_engine, prim_md,
		                                        fast_engine, NULL));
	DNNL(dnnl_primitive_create(&pt->reorder, pd));
	DNNL(dnnl_primitive_desc_destroy(pd));
}

static void port_reorder(fast_port *pt, int output)
{
	dnnl_exec_arg_t args[2] = {
	    {DNNL_ARG_FROM, output ? pt->inner : pt->user},
	    {DNNL_ARG_TO, output ? pt->user : pt->inner},
	};
	DNNL(dnnl_primitive_execute(pt->reorder, fast_stream, 2, args));
}

/* Input: point at the caller's data and bring it into the primitive's layout. */
static void port_in(fast_port *pt, const float *p)
{
	DNNL(dnnl_memory_set_data_handle(pt->user, (void *)p));
	if (pt->reorder)
		port_reorder(pt, 0);
}

/* Output, before the primitive runs: point at the caller's buffer. */
static void port_bind(fast_port *pt, float *p)
{
	DNNL(dnnl_memory_set_data_handle(pt->user, p));
}

/* Output, after the primitive ran: bring the result into the caller's layout. */
static void port_out(fast_port *pt)
{
	if (pt->reorder)
		port_reorder(pt, 1);
}

static void port_free(fast_port *pt)
{
	if (pt->reorder)
		dnnl_primitive_destroy(pt->reorder);
	if (pt->inner && pt->inner != pt->user)
		dnnl_memory_destroy(pt->inner);
	if (pt->user)
		dnnl_memory_destroy(pt->user);
	memset(pt, 0, sizeof *pt);
}

static void fast_wait(void)
{
	DNNL(dnnl_stream_wait(fast_stream));
}

/* ---------------------------------------------------------------- convolution */

struct facet_fast_conv {
	fast_op fwd, bwd_data, bwd_weights;
	fast_port x, w, b, y;        /* forward */
	fast_port dy_d, w_d, dx;     /* backward data */
	fast_port x_w, dy_w, dw, db; /* backward weights */
	int dy_shared;               /* dy_w reuses dy_d's reordered copy */
	int x_shared;                /* x_w can reuse the forward's reordered copy of x ... */
	const float *last_x;         /* ... when backward gets the x of the last forward */
	/* A kernel that covers the whole unpadded input (a read-out: R = H, S = W, 1x1 output) is
	 * an inner product of x [N, C*H*W] and w [K, C*R*S]: this plan runs it instead of the
	 * convolution primitives (oneDNN's direct convolution reached a quarter of its speed on
	 * the 80x80 net's 5x5 read-out). */
	facet_fast_dense *whole;
};

static void conv_release(facet_fast_conv *p);
static facet_fast_dense *dense_new(int N, int I, int O, int relu, int precision);

/* Build p's primitives and ports computing in dt. Returns -1 when oneDNN has no implementation
 * (p then holds what was made, for conv_release). */
static int conv_build(facet_fast_conv *p, const int *d, int relu, int layout,
                      dnnl_data_type_t dt)
{
	int N = d[0], C = d[1], H = d[2], W = d[3], K = d[4], R = d[5], S = d[6], stride = d[7];
	int pad_h = d[8], pad_w = d[9];
	int OH = (H + 2 * pad_h - R) / stride + 1, OW = (W + 2 * pad_w - S) / stride + 1;
	dnnl_dims_t xd = {N, C, H, W}, wd = {K, C, R, S}, bd = {K}, yd = {N, K, OH, OW};
	dnnl_dims_t strides = {stride, stride}, pad = {pad_h, pad_w};
	dnnl_memory_desc_t x_u, w_u, b_u, y_u, x_a, w_a, y_a, dx_a, dw_a, dy_a, x_p;
	dnnl_convolution_desc_t cd;

	md_act(&x_u, xd, layout & FACET_FAST_X_BLOCKED);
	md_plain(&w_u, 4, wd, dnnl_oihw);
	md_plain(&b_u, 1, bd, dnnl_a);
	md_act(&y_u, yd, layout & FACET_FAST_Y_BLOCKED);
	md_any(&x_a, 4, xd, dt);
	md_any(&w_a, 4, wd, dt);
	md_any(&y_a, 4, yd, dnnl_f32);
	md_any(&dy_a, 4, yd, dt);
	md_any(&dx_a, 4, xd, dnnl_f32);
	md_any(&dw_a, 4, wd, dnnl_f32);
	DNNL(dnnl_memory_desc_init_by_tag(&x_p, 4, xd, dt, dnnl_nchw));

	DNNL(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
	                                        &x_a, &w_a, &b_u, &y_a, strides, pad, pad));
	if (op_make(&p->fwd, &cd, relu, NULL))
		return -1;
	port_init(&p->x, &x_u, op_md(&p->fwd, dnnl_query_src_md, 0), 0);
	port_init(&p->w, &w_u, op_md(&p->fwd, dnnl_query_weights_md, 0), 0);
	port_init(&p->b, &b_u, op_md(&p->fwd, dnnl_query_weights_md, 1), 0);
	port_init(&p->y, &y_u, op_md(&p->fwd, dnnl_query_dst_md, 0), 1);

	DNNL(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &dx_a, &w_a,
	                                              &dy_a, strides, pad, pad));
	if (op_make(&p->bwd_data, &cd, 0, p->fwd.pd))
		return -1;
	port_init(&p->dy_d, &y_u, op_md(&p->bwd_data, dnnl_query_diff_dst_md, 0), 0);
	port_init(&p->w_d, &w_u, op_md(&p->bwd_data, dnnl_query_weights_md, 0), 0);
	port_init(&p->dx, &x_u, op_md(&p->bwd_data, dnnl_query_diff_src_md, 0), 1);

	/* A first layer (C < 8) would be padded to 8 channels in the blocked layout; on the plain
	 * layout oneDNN runs it as a GEMM, 2x faster here (1x48x48 -> 64: 8 ms against 20). */
	DNNL(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct,
	                                                 C < 8 ? &x_p : &x_a, &dw_a, &b_u, &dy_a,
	                                                 strides, pad, pad));
	if (op_make(&p->bwd_weights, &cd, 0, p->fwd.pd))
		return -1;
	port_init(&p->x_w, &x_u, op_md(&p->bwd_weights, dnnl_query_src_md, 0), 0);
	port_init(&p->dy_w, &y_u, op_md(&p->bwd_weights, dnnl_query_diff_dst_md, 0), 0);
	port_init(&p->dw, &w_u, op_md(&p->bwd_weights, dnnl_query_diff_weights_md, 0), 1);
	port_init(&p->db, &b_u, op_md(&p->bwd_weights, dnnl_query_diff_weights_md, 1), 1);
	p->x_shared =
	    p->x.reorder && dnnl_memory_desc_equal(op_md(&p->fwd, dnnl_query_src_md, 0),
	                                           op_md(&p->bwd_weights, dnnl_query_src_md, 0));
	p->dy_shared = dnnl_memory_desc_equal(op_md(&p->bwd_data, dnnl_query_diff_dst_md, 0),
	                                      op_md(&p->bwd_weights, dnnl_query_diff_dst_md, 0));
	return 0;
}

facet_fast_conv *facet_fast_conv_new(int N, int C, int H, int W, int K, int R, int S, int stride,
                                     int pad_h, int pad_w, int relu, int precision, int layout)
{
	facet_fast_conv *p = xcalloc(1, sizeof *p);
	const int d[10] = {N, C, H, W, K, R, S, stride, pad_h, pad_w};
	int B = facet_fast_block();

	fast_init();
	if (R == H && S == W && pad_h == 0 && pad_w == 0) {
		if (layout)
			die("internal error: a blocked layout for an inner-product convolution");
		p->whole = dense_new(N, C * H * W, K, relu, precision);
		return p;
	}
	if (((layout & FACET_FAST_X_BLOCKED) && C % B) || ((layout & FACET_FAST_Y_BLOCKED) && K % B))
		die("internal error: a blocked layout for %d -> %d channels (block %d)", C, K, B);
	if (compute_type(precision) == dnnl_bf16) {
		if (conv_build(p, d, relu, layout, dnnl_bf16) == 0)
			return p;
		conv_release(p);
		bf16_fallback("convolution");
	}
	if (conv_build(p, d, relu, layout, dnnl_f32))
		die("oneDNN has no fp32 convolution for %dx%dx%d -> %d %dx%d", C, H, W, K, R, S);
	return p;
}

void facet_fast_conv_forward(facet_fast_conv *p, const float *x, const float *w, const float *b,
                             float *y)
{
	if (p->whole) {
		facet_fast_dense_forward(p->whole, x, w, b, y);
		return;
	}
	port_in(&p->x, x);
	port_in(&p->w, w);
	port_in(&p->b, b);
	port_bind(&p->y, y);
	dnnl_exec_arg_t args[5] = {
	    {DNNL_ARG_SRC, p->x.inner},
	    {DNNL_ARG_WEIGHTS, p->w.inner},
	    {DNNL_ARG_BIAS, p->b.inner},
	    {DNNL_ARG_DST, p->y.inner},
	};
	op_run(&p->fwd, 4, args);
	port_out(&p->y);
	p->last_x = x;
	fast_wait();
}

void facet_fast_conv_backward(facet_fast_conv *p, const float *x, const float *w, const float *dy,
                              float *dx, float *dw, float *db)
{
	if (p->whole) {
		facet_fast_dense_backward(p->whole, x, w, dy, dx, dw, db);
		return;
	}
	dnnl_exec_arg_t args[6];

	port_in(&p->dy_d, dy);
	if (dx) {
		port_in(&p->w_d, w);
		port_bind(&p->dx, dx);
		args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, p->dy_d.inner};
		args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->w_d.inner};
		args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, p->dx.inner};
		op_run(&p->bwd_data, 3, args);
		port_out(&p->dx);
	}
	dnnl_memory_t xm = p->x.inner; /* x as the last forward saw it */
	if (!p->x_shared || x != p->last_x) {
		port_in(&p->x_w, x);
		xm = p->x_w.inner;
	}
	if (!p->dy_shared)
		port_in(&p->dy_w, dy);
	port_bind(&p->dw, dw);
	port_bind(&p->db, db);
	args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, xm};
	args[1] =
	    (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, p->dy_shared ? p->dy_d.inner : p->dy_w.inner};
	args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, p->dw.inner};
	args[3] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, p->db.inner};
	op_run(&p->bwd_weights, 4, args);
	port_out(&p->dw);
	port_out(&p->db);
	fast_wait();
}

/* Free what conv_build made and empty p. */
static void conv_release(facet_fast_conv *p)
{
	fast_port *ports[] = {&p->x,  &p->w,   &p->b,    &p->y,  &p->dy_d, &p->w_d,
	                      &p->dx, &p->x_w, &p->dy_w, &p->dw, &p->db};
	for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
		port_free(ports[i]);
	op_free(&p->fwd);
	op_free(&p->bwd_data);
	op_free(&p->bwd_weights);
	memset(p, 0, sizeof *p);
}

void facet_fast_conv_free(facet_fast_conv *p)
{
	if (!p)
		return;
	facet_fast_dense_free(p->whole);
	p->whole = NULL;
	conv_release(p);
	free(p);
}

/* ---------------------------------------------------------------- dense */

struct facet_fast_dense {
	fast_op fwd, bwd_data, bwd_weights;
	fast_port x, w, b, y;
	fast_port dy_d, w_d, dx;
	fast_port x_w, dy_w, dw, db;
};

static void dense_release(facet_fast_dense *p);

/* Build p's primitives and ports computing in dt; -1 when oneDNN has no implementation. */
static int dense_build(facet_fast_dense *p, int N, int I, int O, int relu, dnnl_data_type_t dt)
{
	dnnl_dims_t xd = {N, I}, wd = {O, I}, bd = {O}, yd = {N, O};
	dnnl_memory_desc_t x_u, w_u, b_u, y_u, x_a, w_a, y_a, dy_a, dx_a, dw_a;
	dnnl_inner_product_desc_t ipd;

	md_plain(&x_u, 2, xd, dnnl_nc);
	md_plain(&w_u, 2, wd, dnnl_oi);
	md_plain(&b_u, 1, bd, dnnl_a);
	md_plain(&y_u, 2, yd, dnnl_nc);
	md_any(&x_a, 2, xd, dt);
	md_any(&w_a, 2, wd, dt);
	md_any(&y_a, 2, yd, dnnl_f32);
	md_any(&dy_a, 2, yd, dt);
	md_any(&dx_a, 2, xd, dnnl_f32);
	md_any(&dw_a, 2, wd, dnnl_f32);

	DNNL(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_training, &x_a, &w_a, &b_u,
	                                          &y_a));
	if (op_make(&p->fwd, &ipd, relu, NULL))
		return -1;
	port_init(&p->x, &x_u, op_md(&p->fwd, dnnl_query_src_md, 0), 0);
	port_init(&p->w, &w_u, op_md(&p->fwd, dnnl_query_weights_md, 0), 0);
	port_init(&p->b, &b_u, op_md(&p->fwd, dnnl_query_weights_md, 1), 0);
	port_init(&p->y, &y_u, op_md(&p->fwd, dnnl_query_dst_md, 0), 1);

	DNNL(dnnl_inner_product_backward_data_desc_init(&ipd, &dx_a, &w_a, &dy_a));
	if (op_make(&p->bwd_data, &ipd, 0, p->fwd.pd))
		return -1;
	port_init(&p->dy_d, &y_u, op_md(&p->bwd_data, dnnl_query_diff_dst_md, 0), 0);
	port_init(&p->w_d, &w_u, op_md(&p->bwd_data, dnnl_query_weights_md, 0), 0);
	port_init(&p->dx, &x_u, op_md(&p->bwd_data, dnnl_query_diff_src_md, 0), 1);

	DNNL(dnnl_inner_product_backward_weights_desc_init(&ipd, &x_a, &dw_a, &b_u, &dy_a));
	if (op_make(&p->bwd_weights, &ipd, 0, p->fwd.pd))
		return -1;
	port_init(&p->x_w, &x_u, op_md(&p->bwd_weights, dnnl_query_src_md, 0), 0);
	port_init(&p->dy_w, &y_u, op_md(&p->bwd_weights, dnnl_query_diff_dst_md, 0), 0);
	port_init(&p->dw, &w_u, op_md(&p->bwd_weights, dnnl_query_diff_weights_md, 0), 1);
	port_init(&p->db, &b_u, op_md(&p->bwd_weights, dnnl_query_diff_weights_md, 1), 1);
	return 0;
}

/* relu: ReLU on the output, as the convolution's (backward then takes dy already masked). */
static facet_fast_dense *dense_new(int N, int I, int O, int relu, int precision)
{
	facet_fast_dense *p = xcalloc(1, sizeof *p);

	fast_init();
	if (compute_type(precision) == dnnl_bf16) {
		if (dense_build(p, N, I, O, relu, dnnl_bf16) == 0)
			return p;
		dense_release(p);
		bf16_fallback("inner product");
	}
	if (dense_build(p, N, I, O, relu, dnnl_f32))
		die("oneDNN has no fp32 inner product for %d -> %d", I, O);
	return p;
}

facet_fast_dense *facet_fast_dense_new(int N, int I, int O, int precision)
{
	return dense_new(N, I, O, 0, precision);
}

void facet_fast_dense_forward(facet_fast_dense *p, const float *x, const float *w, const float *b,
                              float *y)
{
	port_in(&p->x, x);
	port_in(&p->w, w);
	port_in(&p->b, b);
	port_bind(&p->y, y);
	dnnl_exec_arg_t args[5] = {
	    {DNNL_ARG_SRC, p->x.inner},
	    {DNNL_ARG_WEIGHTS, p->w.inner},
	    {DNNL_ARG_BIAS, p->b.inner},
	    {DNNL_ARG_DST, p->y.inner},
	};
	op_run(&p->fwd, 4, args);
	port_out(&p->y);
	fast_wait();
}

void facet_fast_dense_backward(facet_fast_dense *p, const float *x, const float *w, const float *dy,
                               float *dx, float *dw, float *db)
{
	dnnl_exec_arg_t args[6];

	if (dx) {
		port_in(&p->dy_d, dy);
		port_in(&p->w_d, w);
		port_bind(&p->dx, dx);
		args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, p->dy_d.inner};
		args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->w_d.inner};
		args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, p->dx.inner};
		op_run(&p->bwd_data, 3, args);
		port_out(&p->dx);
	}
	port_in(&p->x_w, x);
	port_in(&p->dy_w, dy);
	port_bind(&p->dw, dw);
	port_bind(&p->db, db);
	args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->x_w.inner};
	args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, p->dy_w.inner};
	args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, p->dw.inner};
	args[3] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, p->db.inner};
	op_run(&p->bwd_weights, 4, args);
	port_out(&p->dw);
	port_out(&p->db);
	fast_wait();
}

/* Free what dense_build made and empty p. */
static void dense_release(facet_fast_dense *p)
{
	fast_port *ports[] = {&p->x,  &p->w,   &p->b,    &p->y,  &p->dy_d, &p->w_d,
	                      &p->dx, &p->x_w, &p->dy_w, &p->dw, &p->db};
	for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
		port_free(ports[i]);
	op_free(&p->fwd);
	op_free(&p->bwd_data);
	op_free(&p->bwd_weights);
	memset(p, 0, sizeof *p);
}

void facet_fast_dense_free(facet_fast_dense *p)
{
	if (!p)
		return;
	dense_release(p);
	free(p);
}

/* ---------------------------------------------------------------- int8 inference */

/* An int8 kernel multiplies u8 by s8 codes. VNNI (vpdpbusd) sums four products in 32 bits; without
 * it, vpmaddubsw sums pairs in 16 bits with saturation, which codes up to 255 can reach. oneDNN
 * halves the weights itself for s8 input there (its "scale adjust"), not for u8 input. */
int facet_fast_q8_u8_levels(void)
{
	unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
	unsigned vnni512 = (unsigned)dnnl_cpu_isa_avx512_core_vnni,
	         vnni256 = (unsigned)dnnl_cpu_isa_avx2_vnni;
	return (isa & vnni512) == vnni512 || (isa & vnni256) == vnni256 ? 255 : 127;
}

static dnnl_data_type_t q8_type(int is_signed)
{
	return is_signed ? dnnl_s8 : dnnl_u8;
}

/* The plan holds the weights and bias in the primitive's layout (the weight reorder adds what
 * oneDNN's kernels need: the s8-input compensation, the scale adjust), and the output scales
 * x_scale * w_scale[k] / y_scale; the bias goes in the accumulator's units, b[k] / (x_scale *
 * w_scale[k]), since oneDNN computes y = scale[k] * (sum(x * w) + bias[k]). */
struct facet_fast_q8_conv {
	fast_op fwd;
	dnnl_memory_t x, y; /* the caller's NHWC codes; handles set per call */
	dnnl_memory_t w, b; /* the plan's own */
	fast_port yf;       /* fp32 output: the primitive's layout inside, NCHW for the caller */
	int y_f32;
};

facet_fast_q8_conv *facet_fast_q8_conv_new(const facet_q8_conv_args *a)
{
	facet_fast_q8_conv *p = xcalloc(1, sizeof *p);
	int OH = (a->H + 2 * a->pad_h - a->R) / a->stride + 1,
	    OW = (a->W + 2 * a->pad_w - a->S) / a->stride + 1;
	dnnl_dims_t xd = {a->N, a->C, a->H, a->W}, wd = {a->K, a->C, a->R, a->S}, bd = {a->K},
	            yd = {a->N, a->K, OH, OW};
	dnnl_dims_t strides = {a->stride, a->stride}, pad = {a->pad_h, a->pad_w};
	dnnl_memory_desc_t x_md, w_u, w_a, b_md, y_md, y_u;
	dnnl_convolution_desc_t cd;
	dnnl_primitive_attr_t attr;
	dnnl_post_ops_t po;

	fast_init();
	if (a->y_type == FACET_Q8_U8 && !a->relu)
		die("internal error: uint8 convolution output without ReLU");
	p->y_f32 = a->y_type == FACET_Q8_F32;
	DNNL(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, q8_type(a->x_signed), dnnl_nhwc));
	DNNL(dnnl_memory_desc_init_by_tag(&w_u, 4, wd, dnnl_s8, dnnl_oihw));
	md_any(&w_a, 4, wd, dnnl_s8);
	md_plain(&b_md, 1, bd, dnnl_a);
	if (p->y_f32)
		md_any(&y_md, 4, yd, dnnl_f32);
	else
		DNNL(dnnl_memory_desc_init_by_tag(&y_md, 4, yd, q8_type(a->y_type == FACET_Q8_S8),
		                                  dnnl_nhwc));
	DNNL(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
	                                        dnnl_convolution_direct, &x_md, &w_a, &b_md, &y_md,
	                                        strides, pad, pad));

	float *scale = xmalloc(sizeof *scale * (size_t)a->K), *bias = xmalloc(sizeof *bias * a->K);
	for (int k = 0; k < a->K; k++) {
		float acc = a->x_scale * a->w_scale[k]; /* the value of one accumulator unit */
		scale[k] = p->y_f32 ? acc : acc / a->y_scale;
		bias[k] = a->b[k] / acc;
	}
	DNNL(dnnl_primitive_attr_create(&attr));
	DNNL(dnnl_primitive_attr_set_output_scales(attr, a->K, 1 << 1, scale));
	DNNL(dnnl_post_ops_create(&po));
	if (a->y_type == FACET_Q8_U8 && a->y_levels < 255)
		DNNL(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f,
		                                  (float)a->y_levels));
	else if (a->relu)
		DNNL(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
	DNNL(dnnl_primitive_attr_set_post_ops(attr, po));
	int rc = op_make_attr(&p->fwd, &cd, attr, NULL);
	DNNL(dnnl_primitive_attr_destroy(attr));
	DNNL(dnnl_post_ops_destroy(po));
	if (rc)
		die("oneDNN has no int8 convolution for %dx%dx%d -> %d (%dx%d)", a->C, a->H, a->W,
		    a->K, a->R, a->S);

	/* the constant operands, once: weights reordered into the primitive's layout */
	fast_port wp;
	port_init(&wp, &w_u, op_md(&p->fwd, dnnl_query_weights_md, 0), 0);
	port_in(&wp, (const float *)(const void *)a->w);
	fast_wait();
	if (wp.inner == wp.user) { /* same layout: the plan needs its own copy */
		DNNL(dnnl_memory_create(&p->w, &w_u, fast_engine, DNNL_MEMORY_ALLOCATE));
		void *h;
		DNNL(dnnl_memory_get_data_handle(p->w, &h));
		memcpy(h, a->w, (size_t)a->K * a->C * a->R * a->S);
		port_free(&wp);
	} else {
		p->w = wp.inner;
		wp.inner = NULL;
		port_free(&wp);
	}
	DNNL(dnnl_memory_create(&p->b, &b_md, fast_engine, DNNL_MEMORY_ALLOCATE));
	void *bh;
	DNNL(dnnl_memory_get_data_handle(p->b, &bh));
	memcpy(bh, bias, sizeof *bias * a->K);
	free(bias);
	free(scale);

	DNNL(dnnl_memory_create(&p->x, &x_md, fast_engine, DNNL_MEMORY_NONE));
	if (p->y_f32) {
		dnnl_dims_t yd2 = {a->N, a->K, OH, OW};
		md_plain(&y_u, 4, yd2, dnnl_nchw);
		port_init(&p->yf, &y_u, op_md(&p->fwd, dnnl_query_dst_md, 0), 1);
	} else {
		DNNL(dnnl_memory_create(&p->y, &y_md, fast_engine, DNNL_MEMORY_NONE));
	}
	return p;
}

void facet_fast_q8_conv_forward(facet_fast_q8_conv *p, const void *x, void *y)
{
	DNNL(dnnl_memory_set_data_handle(p->x, (void *)x));
	dnnl_memory_t ym = p->y;
	if (p->y_f32) {
		port_bind(&p->yf, y);
		ym = p->yf.inner;
	} else {
		DNNL(dnnl_memory_set_data_handle(p->y, y));
	}
	dnnl_exec_arg_t args[5] = {
	    {DNNL_ARG_SRC, p->x},
	    {DNNL_ARG_WEIGHTS, p->w},
	    {DNNL_ARG_BIAS, p->b},
	    {DNNL_ARG_DST, ym},
	};
	op_run(&p->fwd, 4, args);
	if (p->y_f32)
		port_out(&p->yf);
	fast_wait();
}

void facet_fast_q8_conv_free(facet_fast_q8_conv *p)
{
	if (!p)
		return;
	op_free(&p->fwd);
	if (p->x)
		dnnl_memory_destroy(p->x);
	if (p->y)
		dnnl_memory_destroy(p->y);
	if (p->w)
		dnnl_memory_destroy(p->w);
	if (p->b)
		dnnl_memory_destroy(p->b);
	if (p->y_f32)
		port_free(&p->yf);
	free(p);
}

/* oneDNN's pooling on NHWC codes: its int8 kernels read the channels of a pixel as one vector. */
struct facet_fast_q8_pool {
	fast_op fwd;
	dnnl_memory_t x, y;
};

facet_fast_q8_pool *facet_fast_q8_pool_new(int N, int C, int H, int W, int k, int s, int is_signed)
{
	facet_fast_q8_pool *p = xcalloc(1, sizeof *p);
	if (k < 1 || s < 1 || k > H || k > W)
		die("int8 max pooling: window %d stride %d does not fit %dx%d", k, s, H, W);
	int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
	dnnl_dims_t xd = {N, C, H, W}, yd = {N, C, OH, OW}, strides = {s, s}, kernel = {k, k},
	            pad = {0, 0};
	dnnl_memory_desc_t x_md, y_md;
	dnnl_pooling_desc_t pd;
	dnnl_primitive_attr_t attr;

	fast_init();
	DNNL(dnnl_memory_desc_init_by_tag(&x_md, 4, xd, q8_type(is_signed), dnnl_nhwc));
	DNNL(dnnl_memory_desc_init_by_tag(&y_md, 4, yd, q8_type(is_signed), dnnl_nhwc));
	DNNL(dnnl_pooling_forward_desc_init(&pd, dnnl_forward_inference, dnnl_pooling_max, &x_md,
	                                    &y_md, strides, kernel, pad, pad));
	DNNL(dnnl_primitive_attr_create(&attr));
	int rc = op_make_attr(&p->fwd, &pd, attr, NULL);
	DNNL(dnnl_primitive_attr_destroy(attr));
	if (rc)
		die("oneDNN has no int8 max pooling for %dx%dx%d", C, H, W);
	DNNL(dnnl_memory_create(&p->x, &x_md, fast_engine, DNNL_MEMORY_NONE));
	DNNL(dnnl_memory_create(&p->y, &y_md, fast_engine, DNNL_MEMORY_NONE));
	return p;
}

void facet_fast_q8_pool_forward(facet_fast_q8_pool *p, const void *x, void *y)
{
	DNNL(dnnl_memory_set_data_handle(p->x, (void *)x));
	DNNL(dnnl_memory_set_data_handle(p->y, y));
	dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->x}, {DNNL_ARG_DST, p->y}};
	op_run(&p->fwd, 2, args);
	fast_wait();
}

void facet_fast_q8_pool_free(facet_fast_q8_pool *p)
{
	if (!p)
		return;
	op_free(&p->fwd);
	if (p->x)
		dnnl_memory_destroy(p->x);
	if (p->y)
		dnnl_memory_destroy(p->y);
	free(p);
}
