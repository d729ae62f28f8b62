/*
 * Input of another geometry: the model records its input (width x height x channels); anything
 * else is converted the way training data was, with facet_image_resize (area average when
 * shrinking, bilinear when enlarging; grey from RGB is BT.601 luma, RGB from grey replicates).
 */
#include <string.h>
#include "nn/nn.h"
#include "resample.h"

const char *facet_net_prepare_image(const facet_net *net, const facet_tensor *img, uint8_t *out)
{
	const facet_input_cfg *in = &net->input;
	if (!facet_is_image(img))
		return "'image' is not a uint8 [H, W, C] tensor with C = 1 or 3";
	size_t n = (size_t)in->width * in->height * in->channels;
	if (img->shape[0] == in->height && img->shape[1] == in->width &&
	    img->shape[2] == in->channels) {
		memcpy(out, img->data, n);
		return NULL;
	}
	facet_tensor t;
	const char *err = NULL;
	if (facet_image_resize(img, in->width, in->height, in->channels, &t, &err))
		return err ? err : "cannot resize the image";
	memcpy(out, t.data, n);
	facet_tensor_free(&t);
	return NULL;
}
