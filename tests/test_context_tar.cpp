// The deterministic context tar and the build contexts it streams: what is
// sent, how it is normalized, and what fails (with the path named).
#define BOOST_TEST_MODULE context_tar
#include <boost/test/unit_test.hpp>

#include "support/fd_leak_check.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <clocale>
#include <map>
#include <set>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "rtb/context/directory_context.hpp"
#include "rtb/context/tar_stream.hpp"
#include "support/temp_tree.hpp"

using namespace rtb;
using rtb::test::temp_tree;

namespace {

struct member {
    std::string path;
    char type;  // 'f', 'd', 'l'
    unsigned perm;
    long long uid, gid;
    std::string uname, gname;
    long long mtime;
    std::string link;
    std::string content;
};

std::vector<member> read_tar(const std::string& bytes) {
    rtb::detail::utf8_locale_scope utf8;  // names come back in UTF-8 whatever the test's locale
    std::vector<member> out;
    struct archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    BOOST_REQUIRE(archive_read_open_memory(a, bytes.data(), bytes.size()) == ARCHIVE_OK);
    struct archive_entry* e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        member m;
        m.path = archive_entry_pathname(e);
        const auto ft = archive_entry_filetype(e);
        m.type = ft == AE_IFDIR ? 'd' : ft == AE_IFLNK ? 'l' : ft == AE_IFREG ? 'f' : '?';
        m.perm = archive_entry_perm(e);
        m.uid = archive_entry_uid(e);
        m.gid = archive_entry_gid(e);
        m.uname = archive_entry_uname(e) ? archive_entry_uname(e) : "";
        m.gname = archive_entry_gname(e) ? archive_entry_gname(e) : "";
        m.mtime = archive_entry_mtime(e);
        if (archive_entry_symlink(e)) m.link = archive_entry_symlink(e);
        char buf[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) m.content.append(buf, static_cast<std::size_t>(n));
        out.push_back(m);
    }
    archive_read_free(a);
    return out;
}

std::string pack(const std::filesystem::path& dir, tar_options o = {}) {
    tar_stream t(directory_context(dir), o);
    return read_all(t);
}

std::vector<std::string> paths(const std::vector<member>& ms) {
    std::vector<std::string> out;
    for (const auto& m : ms) out.push_back(m.path);
    return out;
}

void set_mtime(const std::filesystem::path& p, long t) {
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    ::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(what_is_sent)

BOOST_AUTO_TEST_CASE(entries_are_sorted_bytewise_and_directories_carry_a_slash) {
    temp_tree t;
    t.file("b", "");
    t.file("a-b", "");
    t.file("a/z", "");
    t.file("a.c", "");
    t.file("B", "");
    const std::vector<std::string> want{"B", "a/", "a-b", "a.c", "a/z", "b"};
    // libarchive writes "a/" for the directory; bytewise "a-b" < "a.c" < "a/z"
    const auto got = paths(read_tar(pack(t.root())));
    BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(modes_are_normalized_to_the_execute_bit) {
    temp_tree t;
    ::chmod(t.file("private", "p").c_str(), 0600);
    ::chmod(t.file("group-writable", "g").c_str(), 0664);
    ::chmod(t.file("owner-exec", "x").c_str(), 0700);
    ::chmod(t.file("group-exec-only", "x").c_str(), 0610);
    ::chmod(t.dir("closed").c_str(), 0700);
    t.symlink("private", "link");
    std::map<std::string, unsigned> perms;
    for (const auto& m : read_tar(pack(t.root()))) perms[m.path] = m.perm;
    const std::map<std::string, unsigned> want{{"private", 0644u},     {"group-writable", 0644u}, {"owner-exec", 0755u},
                                               {"group-exec-only", 0755u}, {"closed/", 0755u},    {"link", 0777u}};
    for (const auto& [path, perm] : want)
        BOOST_TEST_CONTEXT(path) {
            BOOST_REQUIRE(perms.contains(path));
            BOOST_TEST(perms.at(path) == perm);
        }
}

BOOST_AUTO_TEST_CASE(owners_names_and_times_are_fixed) {
    temp_tree t;
    t.file("f", "x");
    ::chown(t.file("g", "y").c_str(), 1234, 5678);
    set_mtime(t / "f", 1'600'000'000);
    for (const auto& m : read_tar(pack(t.root()))) {
        BOOST_TEST(m.uid == 0);
        BOOST_TEST(m.gid == 0);
        BOOST_TEST(m.uname.empty());
        BOOST_TEST(m.gname.empty());
        BOOST_TEST(m.mtime == 0);
    }
    for (const auto& m : read_tar(pack(t.root(), {.mtime = 1'700'000'000}))) BOOST_TEST(m.mtime == 1'700'000'000);
}

BOOST_AUTO_TEST_CASE(source_date_epoch_sets_the_mtime_and_garbage_is_refused) {
    ::setenv("SOURCE_DATE_EPOCH", "1234567890", 1);
    BOOST_TEST(tar_options::from_environment().mtime == 1234567890);
    for (const char* bad : {"-1", "12x", "1e9", "99999999999999999999"}) {
        ::setenv("SOURCE_DATE_EPOCH", bad, 1);
        BOOST_CHECK_THROW(tar_options::from_environment(), error);
    }
    ::setenv("SOURCE_DATE_EPOCH", "", 1);
    BOOST_TEST(tar_options::from_environment().mtime == 0);
    ::unsetenv("SOURCE_DATE_EPOCH");
    BOOST_TEST(tar_options::from_environment().mtime == 0);
}

BOOST_AUTO_TEST_CASE(contents_round_trip) {
    temp_tree t;
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    t.file("big", big);
    t.file("empty", "");
    const auto ms = read_tar(pack(t.root()));
    BOOST_TEST_REQUIRE(ms.size() == 2u);
    BOOST_TEST((ms[0].content == big));
    BOOST_TEST(ms[1].content.empty());
}

BOOST_AUTO_TEST_CASE(symlinks_are_sent_as_links_never_followed) {
    temp_tree t;
    t.file("real/f", "content");
    t.symlink("/etc/passwd", "outside");
    t.symlink("../../../../../..", "up");
    t.symlink("loop-b", "loop-a");
    t.symlink("loop-a", "loop-b");
    t.symlink(".", "self");
    t.symlink("real", "dirlink");
    t.symlink("missing", "dangling");
    const auto ms = read_tar(pack(t.root()));
    std::map<std::string, std::string> links;
    for (const auto& m : ms)
        if (m.type == 'l') links[m.path] = m.link;
    BOOST_TEST(links.size() == 7u);
    BOOST_TEST(links["outside"] == "/etc/passwd");
    BOOST_TEST(links["loop-a"] == "loop-b");
    BOOST_TEST(links["self"] == ".");
    BOOST_TEST(links["dirlink"] == "real");
    for (const auto& m : ms) BOOST_TEST(m.path.find("dirlink/") == std::string::npos);  // not entered
}

BOOST_AUTO_TEST_CASE(long_and_non_ascii_names_round_trip_through_pax_headers) {
    temp_tree t;
    const std::string long_dir(150, 'd');
    const std::string long_name = long_dir + "/" + std::string(120, 'n') + ".txt";
    t.file(long_name, "L");
    t.file("caf\u00e9/\u4e2d\u6587.txt", "U");
    t.file("not-utf8-\xff\xfe", "B");
    t.symlink(std::string(200, 't'), "long-link");
    const auto bytes = pack(t.root());
    const auto ms = read_tar(bytes);
    std::set<std::string> got;
    for (const auto& m : ms) got.insert(m.path);
    BOOST_TEST(got.count(long_name) == 1u);
    BOOST_TEST(got.count("caf\u00e9/\u4e2d\u6587.txt") == 1u);
    BOOST_TEST(got.count("not-utf8-\xff\xfe") == 1u);
    const auto link = std::find_if(ms.begin(), ms.end(), [](const auto& m) { return m.path == "long-link"; });
    BOOST_REQUIRE(link != ms.end());
    BOOST_TEST(link->link == std::string(200, 't'));
    BOOST_TEST(bytes.find("path=caf\u00e9/") != std::string::npos);  // PAX, in UTF-8
}

BOOST_AUTO_TEST_CASE(sockets_fifos_and_devices_are_skipped_with_a_warning) {
    temp_tree t;
    t.file("kept", "");
    BOOST_REQUIRE(::mkfifo((t / "fifo").c_str(), 0644) == 0);
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string sock = (t / "sock").string();
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    BOOST_REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(s);
    const bool device = ::mknod((t / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;  // needs root
    std::map<std::string, std::string> skipped;
    directory_context_options o;
    o.walk.on_skip = [&](std::string_view p, std::string_view why) { skipped[std::string(p)] = std::string(why); };
    const auto files = context_files(directory_context(t.root(), o));
    BOOST_TEST(files == std::vector<std::string>{"kept"}, boost::test_tools::per_element());
    BOOST_TEST(skipped["fifo"] == "a FIFO");
    BOOST_TEST(skipped["sock"] == "a socket");
    if (device) BOOST_TEST(skipped["null"] == "a device");
    BOOST_TEST(skipped.size() == (device ? 3u : 2u));
}

BOOST_AUTO_TEST_CASE(a_skipped_special_file_that_is_excluded_is_not_reported) {
    temp_tree t;
    BOOST_REQUIRE(::mkfifo((t / "fifo").c_str(), 0644) == 0);
    t.file(".dockerignore", "fifo\n");
    int warnings = 0;
    directory_context_options o;
    o.walk.on_skip = [&](std::string_view, std::string_view) { ++warnings; };
    directory_context(t.root(), o);
    BOOST_TEST(warnings == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(determinism)

BOOST_AUTO_TEST_CASE(same_content_same_bytes_whatever_mtimes_umask_and_creation_order) {
    const std::vector<std::pair<std::string, std::string>> files{
        {"src/main.py", "print(1)\n"}, {"src/util/a.py", "A"}, {"README", "r"}, {"bin/run", "#!/bin/sh\n"}};
    temp_tree one, two;
    const mode_t old = ::umask(022);
    for (const auto& [p, c] : files) one.file(p, c);
    ::chmod((one / "bin/run").c_str(), 0755);
    one.symlink("src/main.py", "main");
    ::umask(077);  // the other checkout: another umask, reverse order, other times
    for (auto it = files.rbegin(); it != files.rend(); ++it) two.file(it->first, it->second);
    ::chmod((two / "bin/run").c_str(), 0711);
    two.symlink("src/main.py", "main");
    ::umask(old);
    for (const auto& [p, c] : files) {
        set_mtime(one / p, 1000);
        set_mtime(two / p, 2'000'000'000);
    }
    set_mtime(two / "src", 5);
    BOOST_TEST((pack(one.root()) == pack(two.root())));
}

BOOST_AUTO_TEST_CASE(same_bytes_whatever_the_locale) {
    temp_tree t;
    t.file("caf\u00e9.txt", "c");
    t.file("bad\xff", "b");
    t.file(std::string(180, 'x'), "l");
    const std::string utf8 = [&] {
        BOOST_REQUIRE(std::setlocale(LC_ALL, "C.UTF-8") != nullptr);
        return pack(t.root());
    }();
    const std::string c = [&] {
        BOOST_REQUIRE(std::setlocale(LC_ALL, "C") != nullptr);
        return pack(t.root());
    }();
    BOOST_TEST((utf8 == c));
}

BOOST_AUTO_TEST_CASE(any_read_size_gives_the_same_bytes) {
    temp_tree t;
    t.file("a", std::string(700'000, 'a'));
    t.file("b/c", "c");
    const std::string whole = pack(t.root());
    for (const std::size_t size : {1u, 7u, 512u, 4099u}) {
        tar_stream s(directory_context(t.root()));
        std::string got;
        std::vector<std::byte> buf(size);
        while (const auto n = s.read(buf)) got.append(reinterpret_cast<const char*>(buf.data()), n);
        BOOST_TEST_CONTEXT("read size " << size) { BOOST_TEST((got == whole)); }
        BOOST_TEST(s.position() == whole.size());
    }
}

BOOST_AUTO_TEST_CASE(an_empty_context_is_just_the_end_of_archive) {
    temp_tree t;
    const auto bytes = pack(t.root());
    BOOST_TEST(bytes == std::string(1024, '\0'));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failures)

BOOST_AUTO_TEST_CASE(a_root_that_is_a_file_or_missing_is_refused) {
    temp_tree t;
    t.file("file", "");
    BOOST_CHECK_EXCEPTION(directory_context(t / "file"), error, [](const error& e) {
        return e.value() == errc::invalid_argument && std::string(e.what()).find("not a directory") != std::string::npos;
    });
    BOOST_CHECK_EXCEPTION(directory_context(t / "missing"), error,
                          [](const error& e) { return e.value() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_CASE(a_file_that_shrinks_or_grows_while_packing_is_an_error_naming_it) {
    for (const bool grow : {false, true}) {
        temp_tree t;
        const auto f = t.file("data", std::string(1000, 'x'));
        tar_stream s(directory_context(t.root()));
        std::byte one[1];
        BOOST_REQUIRE(s.read(one) == 1u);  // the header is out, the file is open
        if (grow) t.file("data", std::string(5000, 'y'));
        else ::truncate(f.c_str(), 10);
        BOOST_TEST_CONTEXT((grow ? "grows" : "shrinks")) {
            try {
                read_all(s);
                BOOST_FAIL("no error");
            } catch (const error& e) {
                BOOST_TEST(e.value() == errc::io_error);
                BOOST_TEST(std::string(e.what()).find(f.string()) != std::string::npos, e.what());
                BOOST_TEST(std::string(e.what()).find("changed size") != std::string::npos, e.what());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_file_replaced_by_a_link_after_listing_is_not_followed) {
    temp_tree t;
    t.file("f", "data");
    const auto ctx = directory_context(t.root());
    std::filesystem::remove(t / "f");
    t.symlink("/etc/hostname", "f");
    tar_stream s(ctx);
    BOOST_CHECK_EXCEPTION(read_all(s), error, [&](const error& e) {
        return std::string(e.what()).find((t / "f").string()) != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(an_unreadable_file_is_an_error_naming_it) {
    // Root reads everything: check as an unprivileged user in a child.
    temp_tree t;
    ::chmod(t.root().c_str(), 0755);
    const auto secret = t.file("secret", "s");
    ::chmod(secret.c_str(), 0000);
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
        std::string msg = "no error";
        try {
            tar_stream s(directory_context(t.root()));
            read_all(s);
        } catch (const error& e) {
            msg = e.what();
        }
        (void)!::write(fds[1], msg.data(), msg.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string msg;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    BOOST_TEST(msg.find(secret.string()) != std::string::npos, msg);
    BOOST_TEST(msg.find("Permission denied") != std::string::npos, msg);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(virtual_contexts)

BOOST_AUTO_TEST_CASE(a_virtual_context_streams_the_tar_of_its_written_out_folder) {
    temp_tree src, lock, out;
    src.file("pkg/a.py", "a");
    src.file("pkg/skip.pyc", "x");
    src.file("keep/sub/k.txt", "k");
    src.file(".dockerignore", "**/*.pyc\nkeep\n!keep/sub/k.txt\n");
    ::chmod(src.file("bin/tool", "#!/bin/sh\n").c_str(), 0700);
    src.symlink("pkg/a.py", "entry");
    const auto lockfile = lock.file("deps.lock", "x 1\n");
    build_context ctx;
    ctx.add_tree(src.root(), "code/src", dockerignore::for_context(src.root()));
    ctx.add_file("lock/deps.lock", lockfile);
    ctx.add_bytes("Dockerfile", "FROM x\n");
    ctx.add_symlink("current", "code/src");
    ctx.write_to(out / "folder");
    tar_stream streamed(ctx);
    const std::string a = read_all(streamed);
    const std::string b = pack(out / "folder");
    BOOST_TEST((a == b));
    const auto names = paths(read_tar(a));
    BOOST_TEST(std::count(names.begin(), names.end(), "code/src/pkg/skip.pyc") == 0);
    BOOST_TEST(std::count(names.begin(), names.end(), "code/src/keep/") == 1);  // completed: the folder has it
    BOOST_TEST(std::count(names.begin(), names.end(), "code/") == 1);
}

BOOST_AUTO_TEST_CASE(paths_must_be_clean_and_relative) {
    build_context ctx;
    for (const std::string p : {"", "/abs", "../up", "a/../b", "a//b", "./a", "a/", "."})
        BOOST_TEST_CONTEXT("path " << p) { BOOST_CHECK_THROW(ctx.add_bytes(p, "x"), error); }
}

BOOST_AUTO_TEST_CASE(duplicates_and_entries_below_files_are_refused) {
    build_context dup;
    dup.add_bytes("Dockerfile", "a");
    dup.add_bytes("Dockerfile", "b");
    BOOST_CHECK_EXCEPTION(dup.entries(), error, [](const error& e) {
        return std::string(e.what()).find("two entries named 'Dockerfile'") != std::string::npos;
    });
    build_context below;
    below.add_bytes("a", "file");
    below.add_bytes("a/b", "below a file");
    BOOST_CHECK_THROW(below.entries(), error);
}

BOOST_AUTO_TEST_CASE(a_missing_lock_file_is_refused_naming_it) {
    build_context ctx;
    BOOST_CHECK_EXCEPTION(ctx.add_file("lock/x", "/nonexistent/deps.lock"), error, [](const error& e) {
        return std::string(e.what()).find("/nonexistent/deps.lock") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(writing_out_refuses_a_folder_that_is_not_empty) {
    temp_tree t;
    t.file("occupied/x", "");
    build_context ctx;
    ctx.add_bytes("f", "x");
    BOOST_CHECK_THROW(ctx.write_to(t / "occupied"), error);
}

BOOST_AUTO_TEST_SUITE_END()
