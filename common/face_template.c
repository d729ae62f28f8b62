/* Where the 68 landmarks lie, on average, in a 200x200 UTKFace crop. */
#include "face.h"

const float facet_face_template[FACET_LANDMARKS][2] = {
#include "face_template.inc"
};
