/* Names and descriptions of the core's status codes, for the front ends'
 * error messages (the Python binding, the TFLM adapters' kernel log). */
#include "unit_core.h"

const char *unit_status_name(unit_status_t status) {
  switch (status) {
    case UNIT_OK: return "UNIT_OK";
    case UNIT_ERR_ARG: return "UNIT_ERR_ARG";
    case UNIT_ERR_GROUP: return "UNIT_ERR_GROUP";
    case UNIT_ERR_SCRATCH: return "UNIT_ERR_SCRATCH";
    case UNIT_ERR_DIVISION: return "UNIT_ERR_DIVISION";
    case UNIT_ERR_SHAPE: return "UNIT_ERR_SHAPE";
    case UNIT_ERR_NULL: return "UNIT_ERR_NULL";
    case UNIT_ERR_REQUANT: return "UNIT_ERR_REQUANT";
    case UNIT_ERR_ACTIVATION: return "UNIT_ERR_ACTIVATION";
    case UNIT_ERR_OFFSET: return "UNIT_ERR_OFFSET";
    case UNIT_ERR_OVERFLOW: return "UNIT_ERR_OVERFLOW";
  }
  return "UNIT_ERR_UNKNOWN";
}

const char *unit_status_message(unit_status_t status) {
  switch (status) {
    case UNIT_OK: return "ok";
    case UNIT_ERR_ARG:
      return "invalid argument (a size, stride, dilation, padding, activation "
             "or scale out of range)";
    case UNIT_ERR_GROUP: return "group size does not divide the channel count";
    case UNIT_ERR_SCRATCH: return "scratch buffer missing or too small";
    case UNIT_ERR_DIVISION: return "unknown division mode";
    case UNIT_ERR_SHAPE: return "inconsistent shapes or geometry";
    case UNIT_ERR_NULL: return "a required pointer is NULL";
    case UNIT_ERR_REQUANT:
      return "requantisation multiplier < 0 or shift out of range";
    case UNIT_ERR_ACTIVATION:
      return "activation clamp out of range (act_min > act_max, or outside "
             "int8)";
    case UNIT_ERR_OFFSET: return "zero point / offset outside int8's range";
    case UNIT_ERR_OVERFLOW:
      return "sizes or geometry beyond the core's index range";
  }
  return "unknown status";
}
