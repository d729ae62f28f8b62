/* JSON over jansson, for the tools that write reports (facet-eda, facet-report, facet-compare)
 * and facet-dump. */
#ifndef FACET_JSON_H
#define FACET_JSON_H

#include <jansson.h>

/* x as a JSON number, or null where x is not finite: JSON has no NaN or infinity. */
json_t *facet_json_number(double x);

#endif
