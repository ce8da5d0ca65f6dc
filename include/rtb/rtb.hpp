// Everything rtb offers, in one include. Each header also stands alone.
#pragma once

#include "rtb/build_types.hpp"
#include "rtb/concepts.hpp"
#include "rtb/deadline.hpp"
#include "rtb/error.hpp"
#include "rtb/image_ref.hpp"
#include "rtb/resources.hpp"
#include "rtb/runtime_spec.hpp"
#include "rtb/version.hpp"

#include "rtb/hash/digest.hpp"
#include "rtb/hash/dirhash.hpp"
#include "rtb/hash/file_hash.hpp"
#include "rtb/hash/gitwildmatch.hpp"
#include "rtb/hash/hasher.hpp"
#include "rtb/hash/stat_cache.hpp"
#include "rtb/hash/tree_digest.hpp"
#include "rtb/hash/tree_walk.hpp"

#include "rtb/context/base64_stream.hpp"
#include "rtb/context/build_context.hpp"
#include "rtb/context/byte_source.hpp"
#include "rtb/context/directory_context.hpp"
#include "rtb/context/dockerfile_template.hpp"
#include "rtb/context/dockerignore.hpp"
#include "rtb/context/gzip_stream.hpp"
#include "rtb/context/runtime_context.hpp"
#include "rtb/context/tar_stream.hpp"

#include "rtb/tags/content_tags.hpp"
#include "rtb/tags/openhands_tags.hpp"
#include "rtb/tags/tag_rules.hpp"
#include "rtb/tags/tag_set.hpp"

#include "rtb/policy/exponential_backoff.hpp"
#include "rtb/policy/no_retry.hpp"
#include "rtb/policy/null_logger.hpp"
#include "rtb/policy/retry.hpp"

#include "rtb/stream/event.hpp"

// Sandboxes: the spec and its checks (launch() itself, with the engine
// transport, is rtb/sandbox/container.hpp).
#include "rtb/sandbox/container_spec.hpp"
#include "rtb/sandbox/log_stream.hpp"
#include "rtb/sandbox/parse.hpp"
#include "rtb/sandbox/validate.hpp"
