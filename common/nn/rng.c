/*
 * Seeded random numbers: xoshiro256** (Blackman and Vigna), seeded through splitmix64.
 * Streams are derived by hashing (seed, a, b, c), so a sample's augmentation depends only on
 * its (seed, epoch, step, index), never on which thread drew it first.
 */
#include <math.h>
#include "nn/nn.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void facet_rng_seed(facet_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t facet_rng_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = seed;
	uint64_t h = splitmix64(&x);
	x = h ^ a;
	h = splitmix64(&x);
	x = h ^ b;
	h = splitmix64(&x);
	x = h ^ c;
	return splitmix64(&x);
}

uint64_t facet_rng_u64(facet_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double facet_rng_uniform(facet_rng *r)
{
	return (double)(facet_rng_u64(r) >> 11) * 0x1.0p-53;
}

double facet_rng_normal(facet_rng *r)
{
	/* Box-Muller; one of the pair is dropped so the stream has no hidden state. */
	double u = facet_rng_uniform(r), v = facet_rng_uniform(r);
	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

uint32_t facet_rng_below(facet_rng *r, uint32_t n)
{
	return (uint32_t)(((facet_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}
