// librtb: rtb's non-template code and its common builders, compiled once
// (meson's `separate_compilation` option). Every unit that uses the library
// is compiled with RTB_SEPARATE_COMPILATION, as this one is.
#include "rtb/src.hpp"
