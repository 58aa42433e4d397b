/*
 * The library version, built from the numbers in the generated roi/version.h.
 */
#include "roi/version.h"

#define ROI__STR2(x) #x
#define ROI__STR(x) ROI__STR2(x)

const char *roi_version_string(void) {
  return ROI__STR(ROI_VERSION_MAJOR) "." ROI__STR(ROI_VERSION_MINOR) "." ROI__STR(
      ROI_VERSION_PATCH);
}

unsigned roi_version(void) {
  return ROI_VERSION_HEX;
}
