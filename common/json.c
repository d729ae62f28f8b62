/* JSON over jansson: what the tools that write it share. */
#include "json.h"

#include <math.h>

json_t *facet_json_number(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}
