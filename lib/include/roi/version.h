/*
 * roi version and the export macro shared by every public header.
 */
#ifndef ROI_VERSION_H
#define ROI_VERSION_H

#define ROI_VERSION_MAJOR 0
#define ROI_VERSION_MINOR 1
#define ROI_VERSION_PATCH 0

/* ROI_EXTERN marks a public function. A Windows DLL build defines
 * ROI_BUILDING_SHARED and its users define ROI_USING_SHARED; the default is the
 * static library, which needs no decoration. */
#if defined(_WIN32) && defined(ROI_BUILDING_SHARED)
#define ROI_EXTERN __declspec(dllexport)
#elif defined(_WIN32) && defined(ROI_USING_SHARED)
#define ROI_EXTERN __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define ROI_EXTERN __attribute__((visibility("default")))
#else
#define ROI_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Returns the library version as "MAJOR.MINOR.PATCH" (a static string).
 */
ROI_EXTERN const char *roi_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* ROI_VERSION_H */
