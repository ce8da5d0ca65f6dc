// A growable byte buffer whose capacity is exactly what was asked for (no
// hidden doubling), so memory limits hold. Internal.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace rtb::detail {

class byte_buffer {
public:
    char* data() noexcept { return data_.get(); }
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {data_.get(), size_}; }

    /// Makes room for `n` bytes in total; allocates exactly `n` when it grows.
    void reserve(std::size_t n) {
        if (n <= capacity_) return;
        auto bigger = std::make_unique_for_overwrite<char[]>(n);
        if (size_) std::memcpy(bigger.get(), data_.get(), size_);
        data_ = std::move(bigger);
        capacity_ = n;
    }
    void append(const char* p, std::size_t n) {
        reserve(size_ + n);
        if (n) std::memcpy(data_.get() + size_, p, n);
        size_ += n;
    }
    void assign(const char* p, std::size_t n) {
        size_ = 0;
        append(p, n);
    }
    void clear() noexcept { size_ = 0; }
    /// Frees the memory (after an unusually long line).
    void release() noexcept {
        data_.reset();
        size_ = capacity_ = 0;
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

}  // namespace rtb::detail
