/*
 * The smallest shim that lets clang, acting as MSVC (--target=x86_64-pc-windows-msvc
 * -fms-compatibility: _MSC_VER defined, __GNUC__ not), parse Debian's mingw-w64
 * headers (/usr/share/mingw-w64/include, package mingw-w64-common).
 * scripts/msvc-check forces it into every file it checks (clang -include) and
 * explains the check. It touches the headers only, never roi's code: each line
 * below answers an error that a plain `#include <stdlib.h>` or
 * `#include <windows.h>` gives in that mode with no shim.
 */

/* Everything below redefines what _mingw.h defines, so it must come first
 * (every mingw-w64 header includes it, and its include guard keeps these). */
#include <_mingw.h>

/* _mingw.h defines __attribute__(x) to nothing for a compiler that is not GCC.
 * clang's own intrinsic headers, which winnt.h includes (x86intrin.h,
 * emmintrin.h), need it: without this line every file that includes
 * windows.h fails with "passing '__v2si' (aka 'int') to parameter of
 * incompatible type". (roi's own code may not use __attribute__ outside
 * `#ifdef __GNUC__`; scripts/msvc-check looks for it separately.) */
#undef __attribute__

/* For MSVC, _mingw.h makes these two __declspec(noreturn) and
 * __declspec(deprecated), but stdlib.h writes them after the declarator
 * (`void exit(int) __MINGW_ATTRIB_NORETURN;`), where no compiler takes a
 * __declspec: "expected ';' after top level declarator". They are spelled as
 * mingw-w64 spells them for GCC, which is where its headers put them, so exit()
 * stays noreturn and the flow warnings stay right. */
#undef __MINGW_ATTRIB_NORETURN
#define __MINGW_ATTRIB_NORETURN __attribute__((__noreturn__))
#undef __MINGW_ATTRIB_DEPRECATED
#define __MINGW_ATTRIB_DEPRECATED __attribute__((__deprecated__))
