/*
 * The smallest program that uses an installed roi, as an application would:
 * scripts/consumers builds it through pkg-config, CMake and a Meson
 * subproject, and runs it. It makes a poller and an engine, and checks that
 * the library it runs with is the one its headers describe.
 */
#include <stdio.h>

#include <roi/roi.h>

int main(void) {
  roi_poller *p = NULL;
  roi_engine *e = NULL;
  int rc = roi_poller_create(&p, NULL);
  if (rc == 0)
    rc = roi_engine_create(&e, NULL);
  if (rc != 0) {
    fprintf(stderr, "consumer: %s\n", roi_strerror(rc));
    roi_poller_destroy(p);
    return 1;
  }
  roi_engine_destroy(e);
  roi_poller_destroy(p);
  if (roi_version() != ROI_VERSION_HEX) {
    fprintf(stderr, "consumer: headers 0x%06x, library 0x%06x\n", (unsigned)ROI_VERSION_HEX,
            roi_version());
    return 1;
  }
  printf("roi %s works\n", roi_version_string());
  return 0;
}
