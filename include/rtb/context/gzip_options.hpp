// How gzip_stream compresses (rtb/context/gzip_stream.hpp), on its own so
// that the options of what compresses a context (remote_api) name it without
// the compressor.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rtb {

/// Which deflate implementation compresses a block.
///
/// libdeflate takes half of zlib's time or less at the same level, but
/// compresses each block alone, and at levels 4-7 it searches fewer match
/// candidates than zlib: on text made of a few short words repeated in a
/// random order its output at level 6 is ~10% larger than zlib's. On
/// source trees it is within ~0.5% of zlib's size and smaller at levels 1-3.
enum class gzip_codec : std::uint8_t {
    /// Per block: a 32 KiB sample of it through both; libdeflate unless its
    /// sample comes out more than 1% larger than zlib's (then zlib).
    /// Keeps the output within about 1% of zlib's size; level 0 is zlib.
    automatic,
    libdeflate,  ///< every block (level 0: stored blocks)
    zlib,        ///< every block, with the previous 32 KiB as its dictionary
};

struct gzip_options {
    int level = 6;                          ///< level 0-9 (6: gzip's default), the same scale for both codecs
    unsigned jobs = 0;                      ///< compression threads; 0: every core
    std::size_t block_size = 1024 * 1024;  ///< input per block; part of the output's identity
    gzip_codec codec = gzip_codec::automatic;  ///< part of the output's identity
};

}  // namespace rtb
