# Shared by scripts/setup, scripts/gates, scripts/test and scripts/bench.
# Sourced, not run.

ROI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROI_BUILD=${ROI_BUILD:-$ROI_ROOT/build}
ROI_CROSS_FILE=$ROI_ROOT/scripts/cross/x86_64-w64-mingw32.txt

# Wine: quiet, no Mono/Gecko prompt, 64-bit, and a prefix of roi's own so a
# person's ~/.wine is never touched.
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
export WINEARCH=win64
export WINEPREFIX=${WINEPREFIX:-$HOME/.local/share/roi/wineprefix}

# roi_wine_start: starts the prefix's wineserver and Wine's own system
# programs (services.exe, winedevice.exe, explorer.exe...) with no terminal or
# pipe attached, kept for 10 s after the last Wine program exits. Otherwise
# the first Wine program a test runner starts becomes their parent: they
# inherit its stdout and stderr, and the runner, which waits for those to
# close, counts that program as running until wineserver exits after the
# last one (meson showed the first Windows test taking 45-55 s instead of
# 1 s, all of it against that test's timeout). A running wineserver is left
# as it is.
roi_wine_start() {
  wineserver -p10 </dev/null >/dev/null 2>&1
  wine wineboot </dev/null >/dev/null 2>&1
}

# The peers the benchmarks compare roi with (bench/meson.build builds each
# program only when its library is there). scripts/test installs them too, so
# that their benchmark programs are compiled and smoke-tested with the rest.
ROI_BENCH_PACKAGES="libuv1-dev libevent-dev libzmq3-dev libnng-dev"

roi_say() { printf '[roi] %s\n' "$*"; }

# roi_configure DIR [meson options...]: sets up a build directory, or
# reconfigures it with the given options when it already exists.
roi_configure() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@" >"$dir.configure.log" 2>&1
  else
    mkdir -p "$(dirname "$dir")"
    meson setup "$dir" "$@" >"$dir.configure.log" 2>&1
  fi
  local rc=$?
  [ $rc -eq 0 ] || { roi_say "meson setup $dir failed:"; tail -30 "$dir.configure.log"; }
  return $rc
}

# roi_configure_win: the Windows cross build used by the gates and the tests.
roi_configure_win() {
  roi_configure "$ROI_BUILD/win" --cross-file "$ROI_CROSS_FILE" --werror "$@"
}
