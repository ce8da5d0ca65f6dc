// rtb's non-template code, compiled once for this program: the separate
// compilation of rtb without its meson build (CMakeLists.txt's
// RTB_SEPARATE_COMPILATION option compiles this file, and every file of the
// program with RTB_SEPARATE_COMPILATION defined).
#include <rtb/src.hpp>
