/* Small helpers more than one tool needs: hashing, the folder the tools are installed in. */
#include "facet.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

uint64_t facet_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

const char *facet_tools_dir(void)
{
	static char dir[PATH_MAX];
	static int looked;
	if (!looked) {
		ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
		char *slash;
		looked = 1;
		dir[n > 0 ? n : 0] = 0;
		slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = 0; /* a program in the root folder */
		else if (slash)
			*slash = 0;
		else
			dir[0] = 0;
	}
	return dir[0] ? dir : NULL;
}
