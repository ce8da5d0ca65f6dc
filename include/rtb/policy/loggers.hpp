// The stock Loggers and their common assemblies, in one include.
#pragma once

#include "rtb/policy/json_logger.hpp"
#include "rtb/policy/null_logger.hpp"
#include "rtb/policy/redacting_logger.hpp"
#include "rtb/policy/rolling_logger.hpp"
#include "rtb/policy/stderr_logger.hpp"
#include "rtb/policy/tee_logger.hpp"

namespace rtb {

/// What `rtb build` uses: live display for the person, the last lines for
/// the error report. get<rolling_logger>().build_error() after a failure.
using console_logger = tee_logger<stderr_logger, rolling_logger>;

static_assert(SecretMaskingLogger<stderr_logger> && SecretMaskingLogger<rolling_logger> &&
              SecretMaskingLogger<json_logger> && SecretMaskingLogger<console_logger> &&
              SecretMaskingLogger<redacting_logger<null_logger>>);

}  // namespace rtb
