// The SSD tier on a temporary directory: format checks, limits, eviction,
// rescan after a "restart" (a new DiskStore on the same directory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "client/offload/crc32c.h"
#include "client/offload/disk_store.h"
#include "client/offload/file_io.h"
#include "client/offload/object_file.h"
#include "client/offload/offload_config.h"

namespace mooncake::offload {
namespace {

namespace fs = std::filesystem;

class TempDir {
   public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "mc_offload_XXXXXX").string();
        path_ = ::mkdtemp(templ.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

   private:
    std::string path_;
};

std::vector<uint8_t> Bytes(size_t size, uint32_t seed) {
    std::vector<uint8_t> out(size);
    std::mt19937 rng(seed);
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    return out;
}

std::vector<std::span<const uint8_t>> One(const std::vector<uint8_t>& v) {
    return {std::span<const uint8_t>(v)};
}

OffloadConfig ConfigFor(const TempDir& dir) {
    OffloadConfig config;
    config.storage_path = dir.path();
    config.total_size_limit_bytes = 1 << 20;
    config.total_keys_limit = 100;
    return config;
}

std::vector<std::string> ObjectFiles(const OffloadConfig& config) {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(config.ObjectDir())) {
        if (e.is_regular_file()) files.push_back(e.path().string());
    }
    return files;
}

TEST(Crc32cTest, KnownValuesAndChaining) {
    // The standard check value of CRC-32C.
    EXPECT_EQ(Crc32c(0, "123456789", 9), 0xE3069283u);
    EXPECT_EQ(Crc32c(0, "", 0), 0u);
    auto data = Bytes(1000, 1);
    const uint32_t whole = Crc32c(0, data.data(), data.size());
    EXPECT_EQ(Crc32c(Crc32c(0, data.data(), 333), data.data() + 333, 667), whole);
    data[500] ^= 1;
    EXPECT_NE(Crc32c(0, data.data(), data.size()), whole);
}

TEST(Crc32cTest, FastPathMatchesTheTableVersion) {
    // Every length up to a few folding steps past where folding starts (256
    // bytes; it moves 64 a step and then 16), longer ones, odd starts, and
    // chained calls.
    auto data = Bytes(200'000, 9);
    std::vector<size_t> sizes(700);
    std::iota(sizes.begin(), sizes.end(), size_t{0});
    sizes.insert(sizes.end(), {size_t{24577}, size_t{49152 + 13}, size_t{199'000}});
    for (size_t size : sizes) {
        for (size_t start : {size_t{0}, size_t{1}, size_t{5}}) {
            const uint8_t* p = data.data() + start;
            EXPECT_EQ(Crc32c(0, p, size), Crc32cPortable(0, p, size)) << size << "@" << start;
            const size_t half = size / 3;
            EXPECT_EQ(Crc32c(Crc32c(0, p, half), p + half, size - half), Crc32cPortable(0, p, size))
                << size << "@" << start;
        }
    }
}

TEST(OffloadConfigTest, EnvironmentAndFallbackNames) {
    ::setenv("MOONCAKE_OFFLOAD_FILE_STORAGE_PATH", "/tmp/x", 1);
    ::setenv("MOONCAKE_OFFLOAD_TOTAL_KEYS_LIMIT", "42", 1);
    ::setenv("MOONCAKE_DISK_EVICTION_HIGH_WATERMARK_RATIO", "0.7", 1);
    ::setenv("MOONCAKE_OFFLOAD_TOTAL_SIZE_LIMIT_BYTES", "lots", 1);
    ::setenv("MOONCAKE_OFFLOAD_BUCKET_EVICTION_POLICY", "lru", 1);
    OffloadConfig c = OffloadConfig::FromEnv();
    EXPECT_EQ(c.storage_path, "/tmp/x");
    EXPECT_EQ(c.total_keys_limit, 42u);
    EXPECT_DOUBLE_EQ(c.high_watermark_ratio, 0.7);
    EXPECT_EQ(c.total_size_limit_bytes, 2199023255552ULL);  // malformed: default kept
    EXPECT_EQ(c.eviction_policy, DiskEvictionPolicy::kLru);
    for (const char* name :
         {"MOONCAKE_OFFLOAD_FILE_STORAGE_PATH", "MOONCAKE_OFFLOAD_TOTAL_KEYS_LIMIT",
          "MOONCAKE_DISK_EVICTION_HIGH_WATERMARK_RATIO", "MOONCAKE_OFFLOAD_TOTAL_SIZE_LIMIT_BYTES",
          "MOONCAKE_OFFLOAD_BUCKET_EVICTION_POLICY"}) {
        ::unsetenv(name);
    }
}

TEST(OffloadConfigTest, UnknownBackendDescriptorFallsBackToTheDefault) {
    ::setenv("MOONCAKE_OFFLOAD_STORAGE_BACKEND_DESCRIPTOR", "file_per_key_storage_backend", 1);
    EXPECT_EQ(OffloadConfig::FromEnv().backend_descriptor, "file_per_key_storage_backend");
    ::setenv("MOONCAKE_OFFLOAD_STORAGE_BACKEND_DESCRIPTOR", "floppy_backend", 1);
    EXPECT_EQ(OffloadConfig::FromEnv().backend_descriptor, OffloadConfig{}.backend_descriptor);
    ::unsetenv("MOONCAKE_OFFLOAD_STORAGE_BACKEND_DESCRIPTOR");
}

TEST(OffloadConfigTest, RejectsBadPaths) {
    TempDir dir;
    OffloadConfig c = ConfigFor(dir);
    EXPECT_TRUE(ValidateOffloadConfig(c));
    c.storage_path = "relative/path";
    EXPECT_FALSE(ValidateOffloadConfig(c));
    c.storage_path = dir.path() + "/../x";
    EXPECT_FALSE(ValidateOffloadConfig(c));
    c.storage_path = dir.path() + "/missing";
    EXPECT_FALSE(ValidateOffloadConfig(c));
    fs::create_directory_symlink(dir.path(), dir.path() + "/link");
    c.storage_path = dir.path() + "/link";
    EXPECT_FALSE(ValidateOffloadConfig(c));
    c = ConfigFor(dir);
    c.low_watermark_ratio = 0.95;  // above the high watermark
    EXPECT_FALSE(ValidateOffloadConfig(c));
    EXPECT_FALSE(DiskStore::Open(c).has_value());
}

// Every FileIo test runs with plain pread/pwrite and with io_uring (the
// latter is skipped only where the build has no liburing).
class FileIoTest : public ::testing::TestWithParam<std::string> {
   protected:
    void SetUp() override {
        if (GetParam() == "pread") return;
        std::string why_not;
        uring_ = MakeUringFileIo(&why_not);
#if defined(MOONCAKE_HAVE_LIBURING)
        ASSERT_TRUE(uring_) << "built with liburing, yet: " << why_not;
#else
        if (!uring_) GTEST_SKIP() << why_not;
#endif
    }
    FileIo& Io() { return uring_ ? *uring_ : PosixFileIo(); }
    // A store on `dir` that uses this test's backend.
    std::unique_ptr<DiskStore> OpenStore(const TempDir& dir) {
        OffloadConfig config = ConfigFor(dir);
        config.use_uring = GetParam() == "io_uring";
        auto store = DiskStore::Open(config);
        EXPECT_TRUE(store);
        return store ? std::move(*store) : nullptr;
    }

   private:
    std::unique_ptr<FileIo> uring_;
};

INSTANTIATE_TEST_SUITE_P(Backends, FileIoTest, ::testing::Values("pread", "io_uring"),
                         [](const auto& info) {
                             return info.param == "pread" ? "Pread" : "IoUring";
                         });

TEST_P(FileIoTest, LargeValuesInManyPiecesAndChecksumInOrder) {
    // 9 MiB + 7 bytes in three parts: many io_uring pieces, more than its
    // queue depth holds, and a checksum that must see them in file order.
    FileIo& io = Io();
    TempDir dir;
    const std::string path = dir.path() + "/big.mco";
    auto a = Bytes(5 << 20, 21), b = Bytes(3, 22), c = Bytes((4 << 20) + 4, 23);
    ASSERT_TRUE(WriteObjectFile(
        io, path, "big",
        {std::span<const uint8_t>(a), std::span<const uint8_t>(b), std::span<const uint8_t>(c)}));
    std::vector<uint8_t> out(a.size() + b.size() + c.size());
    ASSERT_TRUE(ReadObjectFileValue(io, path, "big", out));
    EXPECT_TRUE(std::equal(a.begin(), a.end(), out.begin()));
    EXPECT_TRUE(std::equal(c.begin(), c.end(), out.begin() + a.size() + b.size()));
    // A flipped bit near the end of the value: the last pieces count.
    int fd = ::open(path.c_str(), O_RDWR);
    const off_t last = static_cast<off_t>(48 + 3 + out.size() - 2);
    uint8_t byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, last), 1);
    byte ^= 0x01;
    ASSERT_EQ(::pwrite(fd, &byte, 1, last), 1);
    ::close(fd);
    EXPECT_EQ(ReadObjectFileValue(io, path, "big", out).error(), ErrorCode::FILE_READ_FAIL);
}

TEST_P(FileIoTest, ShortFilesFailedWritesAndStoppedReads) {
    FileIo& io = Io();
    TempDir dir;
    const std::string path = dir.path() + "/raw";
    auto data = Bytes(1 << 20, 24);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(io.Write(fd, {std::span<const uint8_t>(data)}, 0));
    std::vector<uint8_t> twice(2 << 20);
    EXPECT_EQ(io.Read(fd, twice, 0, nullptr).error(), ErrorCode::FILE_READ_FAIL);
    std::vector<uint8_t> out(data.size());
    size_t seen = 0;
    ASSERT_TRUE(io.Read(fd, out, 0, [&](std::span<const uint8_t> chunk) {
        // Chunks arrive in order and hold the file's bytes already.
        EXPECT_TRUE(std::equal(chunk.begin(), chunk.end(), data.begin() + seen));
        seen += chunk.size();
        return true;
    }));
    EXPECT_EQ(seen, data.size());
    EXPECT_EQ(out, data);
    EXPECT_EQ(io.Read(fd, out, 0, [](std::span<const uint8_t>) { return false; }).error(),
              ErrorCode::FILE_READ_FAIL);
    ::close(fd);
    fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_EQ(io.Write(fd, {std::span<const uint8_t>(data)}, 0).error(),
              ErrorCode::FILE_WRITE_FAIL);
    ::close(fd);
}

TEST_P(FileIoTest, DiskStoreUsesTheBackendItWasAskedFor) {
    TempDir dir;
    auto store = OpenStore(dir);
    ASSERT_TRUE(store);
    EXPECT_STREQ(store->io_backend(), Io().name());
    auto v = Bytes(300 << 10, 25);
    ASSERT_TRUE(store->Put("k", One(v)));
    std::vector<uint8_t> out(v.size());
    ASSERT_TRUE(store->Get("k", out));
    EXPECT_EQ(out, v);
}

TEST_P(FileIoTest, ObjectFileRoundTripAndEveryKindOfDamage) {
    FileIo& io = Io();
    TempDir dir;
    const std::string path = dir.path() + "/obj.mco";
    auto a = Bytes(3000, 2), b = Bytes(5000, 3);
    ASSERT_TRUE(WriteObjectFile(io, path, "key",
                                {std::span<const uint8_t>(a), std::span<const uint8_t>(b)}));
    std::vector<uint8_t> out(8000);
    ASSERT_TRUE(ReadObjectFileValue(io, path, "key", out));
    EXPECT_TRUE(std::equal(a.begin(), a.end(), out.begin()));
    EXPECT_TRUE(std::equal(b.begin(), b.end(), out.begin() + 3000));
    auto info = ReadObjectFileInfo(path);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->key, "key");
    EXPECT_EQ(info->value_size, 8000u);

    EXPECT_EQ(ReadObjectFileValue(io, path, "other", out).error(), ErrorCode::FILE_READ_FAIL);
    std::vector<uint8_t> small(10);
    EXPECT_EQ(ReadObjectFileValue(io, path, "key", small).error(), ErrorCode::FILE_INVALID_BUFFER);
    EXPECT_EQ(ReadObjectFileValue(io, dir.path() + "/none", "key", out).error(),
              ErrorCode::FILE_NOT_FOUND);

    // A flipped bit in the value, in the key, in the header; a truncation.
    for (off_t offset : {off_t{48 + 3 + 4000}, off_t{48 + 1}, off_t{16}}) {
        ASSERT_TRUE(WriteObjectFile(io, path, "key", One(a)));
        int fd = ::open(path.c_str(), O_RDWR);
        uint8_t byte = 0;
        ASSERT_EQ(::pread(fd, &byte, 1, offset < 3051 ? offset : 48 + 3 + 100), 1);
        byte ^= 0x10;
        ASSERT_EQ(::pwrite(fd, &byte, 1, offset < 3051 ? offset : 48 + 3 + 100), 1);
        ::close(fd);
        std::vector<uint8_t> dest(3000);
        EXPECT_FALSE(ReadObjectFileValue(io, path, "key", dest)) << "offset " << offset;
    }
    ASSERT_TRUE(WriteObjectFile(io, path, "key", One(a)));
    fs::resize_file(path, 48 + 3 + 2999);
    std::vector<uint8_t> dest(3000);
    EXPECT_EQ(ReadObjectFileValue(io, path, "key", dest).error(), ErrorCode::FILE_READ_FAIL);
    EXPECT_FALSE(ReadObjectFileInfo(path));
}

TEST(DiskStoreTest, PutGetRemoveAndOverwrite) {
    TempDir dir;
    auto store = DiskStore::Open(ConfigFor(dir));
    ASSERT_TRUE(store);
    auto v1 = Bytes(1000, 4), v2 = Bytes(2000, 5);
    ASSERT_TRUE((*store)->Put("k", One(v1)));
    EXPECT_EQ((*store)->SizeOf("k"), 1000u);
    ASSERT_TRUE((*store)->Put("k", One(v2)));  // replaces
    EXPECT_EQ((*store)->SizeOf("k"), 2000u);
    EXPECT_EQ(ObjectFiles((*store)->config()).size(), 1u);  // old file deleted
    std::vector<uint8_t> out(2000);
    ASSERT_TRUE((*store)->Get("k", out));
    EXPECT_EQ(out, v2);
    EXPECT_EQ((*store)->Get("missing", out).error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ((*store)->Put("", One(v1)).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ((*store)->Put(std::string(5000, 'x'), One(v1)).error(), ErrorCode::INVALID_PARAMS);
    ASSERT_TRUE((*store)->Remove("k"));
    EXPECT_EQ((*store)->Remove("k").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_TRUE(ObjectFiles((*store)->config()).empty());
    EXPECT_EQ((*store)->GetStats().bytes, 0u);
}

TEST(DiskStoreTest, ValueIdsSurviveARescan) {
    TempDir dir;
    auto v = Bytes(300, 9);
    {
        auto store = DiskStore::Open(ConfigFor(dir));
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->Put("named", One(v), 0x1234567890ABCDEFULL));
        ASSERT_TRUE((*store)->Put("unnamed", One(v)));
    }
    auto reopened = DiskStore::Open(ConfigFor(dir));
    ASSERT_TRUE(reopened);
    std::map<std::string, uint64_t> ids;
    for (const DiskObject& object : (*reopened)->ListObjects()) ids[object.key] = object.value_id;
    EXPECT_EQ(ids,
              (std::map<std::string, uint64_t>{{"named", 0x1234567890ABCDEFULL}, {"unnamed", 0}}));
    std::vector<uint8_t> out(300);
    ASSERT_TRUE((*reopened)->Get("named", out));
    EXPECT_EQ(out, v);
}

TEST(DiskStoreTest, CorruptFileIsAnErrorAndIsDropped) {
    TempDir dir;
    auto store = DiskStore::Open(ConfigFor(dir));
    ASSERT_TRUE(store);
    auto v = Bytes(4096, 6);
    ASSERT_TRUE((*store)->Put("k", One(v)));
    const std::string file = ObjectFiles((*store)->config()).at(0);
    int fd = ::open(file.c_str(), O_RDWR);
    const uint8_t junk = 0xFF ^ v[2000];
    ASSERT_EQ(::pwrite(fd, &junk, 1, 48 + 1 + 2000), 1);
    ::close(fd);
    std::vector<uint8_t> out(4096);
    EXPECT_EQ((*store)->Get("k", out).error(), ErrorCode::FILE_READ_FAIL);
    EXPECT_FALSE((*store)->SizeOf("k"));
    EXPECT_EQ((*store)->GetStats().read_failures, 1u);
}

TEST(DiskStoreTest, LimitsWithoutEvictionRejectCleanly) {
    TempDir dir;
    OffloadConfig config = ConfigFor(dir);
    config.enable_eviction = false;
    config.total_keys_limit = 3;
    auto store = DiskStore::Open(config);
    ASSERT_TRUE(store);
    auto v = Bytes(100, 7);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*store)->Put("k" + std::to_string(i), One(v)));
    EXPECT_EQ((*store)->Put("k3", One(v)).error(), ErrorCode::KEYS_ULTRA_LIMIT);
    EXPECT_TRUE((*store)->Put("k1", One(v)));  // an overwrite needs no new key
    auto big = Bytes((1 << 20) + 1, 8);
    EXPECT_EQ((*store)->Put("k1", One(big)).error(), ErrorCode::KEYS_ULTRA_LIMIT);
    std::vector<uint8_t> out(100);
    EXPECT_TRUE((*store)->Get("k1", out));  // the failed put lost nothing
    EXPECT_EQ(out, v);
}

TEST(DiskStoreTest, WatermarkEvictionTellsTheListenerFirst) {
    TempDir dir;
    OffloadConfig config = ConfigFor(dir);  // 1 MiB, high 0.9, low 0.8
    auto store = DiskStore::Open(config);
    ASSERT_TRUE(store);
    std::vector<std::string> evicted;
    (*store)->SetEvictListener([&](const std::vector<std::string>& keys) {
        for (const auto& k : keys) {
            EXPECT_FALSE((*store)->SizeOf(k)) << "listener called after the index forgot " << k;
            evicted.push_back(k);
        }
    });
    auto v = Bytes(100 << 10, 9);  // 100 KiB: the 10th crosses 90 %
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*store)->Put("k" + std::to_string(i), One(v)));
    const auto stats = (*store)->GetStats();
    EXPECT_LE(stats.bytes, static_cast<uint64_t>((1 << 20) * 0.8));
    ASSERT_FALSE(evicted.empty());
    EXPECT_EQ(evicted.front(), "k0");  // FIFO: oldest first
    EXPECT_EQ(ObjectFiles(config).size(), stats.keys);
    EXPECT_TRUE((*store)->SizeOf("k9"));
}

TEST(DiskStoreTest, LruKeepsWhatIsRead) {
    TempDir dir;
    OffloadConfig config = ConfigFor(dir);
    config.eviction_policy = DiskEvictionPolicy::kLru;
    config.total_keys_limit = 3;
    auto store = DiskStore::Open(config);
    ASSERT_TRUE(store);
    auto v = Bytes(10, 10);
    std::vector<uint8_t> out(10);
    for (const char* k : {"a", "b", "c"}) ASSERT_TRUE((*store)->Put(k, One(v)));
    ASSERT_TRUE((*store)->Get("a", out));
    ASSERT_TRUE((*store)->Put("d", One(v)));
    EXPECT_TRUE((*store)->SizeOf("a"));
    EXPECT_FALSE((*store)->SizeOf("b"));
}

TEST(DiskStoreTest, RescanFindsObjectsAndDropsDamage) {
    TempDir dir;
    OffloadConfig config = ConfigFor(dir);
    std::vector<std::vector<uint8_t>> values;
    {
        auto store = DiskStore::Open(config);
        ASSERT_TRUE(store);
        for (int i = 0; i < 20; ++i) {
            values.push_back(Bytes(1000 + i, 100 + i));
            ASSERT_TRUE((*store)->Put("key/" + std::to_string(i), One(values.back())));
        }
    }
    auto files = ObjectFiles(config);
    ASSERT_EQ(files.size(), 20u);
    std::sort(files.begin(), files.end());
    fs::resize_file(files[0], 10);                          // torn header
    std::ofstream(files[1] + ".tmp.1.2") << "interrupted";  // crashed write
    std::ofstream(config.ObjectDir() + "/README") << "not ours";

    auto store = DiskStore::Open(config);
    ASSERT_TRUE(store);
    EXPECT_EQ((*store)->GetStats().keys, 19u);
    EXPECT_EQ((*store)->GetStats().rescan_keys, 19u);
    EXPECT_EQ(ObjectFiles(config).size(), 20u);  // 19 objects + README
    int found = 0;
    for (int i = 0; i < 20; ++i) {
        auto size = (*store)->SizeOf("key/" + std::to_string(i));
        if (!size) continue;
        ++found;
        std::vector<uint8_t> out(*size);
        ASSERT_TRUE((*store)->Get("key/" + std::to_string(i), out));
        EXPECT_EQ(out, values[i]);
    }
    EXPECT_EQ(found, 19);
    // New puts after a rescan never reuse a file name.
    ASSERT_TRUE((*store)->Put("key/0", One(values[0])));
    ASSERT_TRUE((*store)->Put("key/1", One(values[0])));
    std::vector<uint8_t> out(values[0].size());
    ASSERT_TRUE((*store)->Get("key/1", out));
    EXPECT_EQ(out, values[0]);
}

TEST_P(FileIoTest, FailedWritesGiveCleanErrors) {
    // A file-size limit makes writes past 64 KiB fail (EFBIG) the way a full
    // disk does (ENOSPC): the put fails, leaves no file, loses nothing.
    TempDir dir;
    auto store = OpenStore(dir);
    ASSERT_TRUE(store);
    auto small = Bytes(100, 11), big = Bytes(200 << 10, 12);
    ASSERT_TRUE(store->Put("kept", One(small)));
    struct rlimit old {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    auto* old_handler = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = old;
    limited.rlim_cur = 64 << 10;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
    const Status put = store->Put("new", One(big));
    const Status replace = store->Put("kept", One(big));
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    EXPECT_EQ(put.error(), ErrorCode::FILE_WRITE_FAIL);
    EXPECT_EQ(replace.error(), ErrorCode::FILE_WRITE_FAIL);
    std::vector<uint8_t> out(100);
    EXPECT_TRUE(store->Get("kept", out));
    EXPECT_EQ(out, small);
    EXPECT_EQ(store->GetStats().keys, 1u);
    EXPECT_EQ(store->GetStats().bytes, 100u);
    EXPECT_EQ(ObjectFiles(store->config()).size(), 1u);  // no temporary left
}

TEST(DiskStoreTest, FullVolumeLowersTheLimitEvictsAndKeepsWhatFits) {
    // A 4 MiB tmpfs under a 1 GiB limit: the volume, not the limit, fills.
    TempDir dir;
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=4m") != 0) {
        GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN): " << std::strerror(errno);
    }
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{dir.path()};
    OffloadConfig config = ConfigFor(dir);
    config.total_size_limit_bytes = 1ULL << 30;
    config.total_keys_limit = 1000;
    auto store = DiskStore::Open(config);
    ASSERT_TRUE(store);
    EXPECT_LE((*store)->GetStats().size_limit, 4u << 20);  // capped at open
    std::vector<std::string> evicted;
    (*store)->SetEvictListener([&](const std::vector<std::string>& keys) {
        evicted.insert(evicted.end(), keys.begin(), keys.end());
    });
    // Eat most of the volume behind the store's back, as other data would.
    const std::string filler = dir.path() + "/filler";
    {
        std::ofstream out(filler, std::ios::binary);
        std::vector<char> block(1 << 20, 'f');
        for (int i = 0; i < 2; ++i) out.write(block.data(), block.size());
    }
    // Puts go on: the store lowers its limit, evicts its oldest objects and
    // every put either succeeds or fails cleanly; what it keeps reads back.
    std::vector<std::string> stored;
    for (int i = 0; i < 12; ++i) {
        const std::string key = "k" + std::to_string(i);
        auto value = Bytes(256 << 10, 100 + i);
        Status put = (*store)->Put(key, One(value));
        if (put) {
            stored.push_back(key);
        } else {
            EXPECT_TRUE(put.error() == ErrorCode::FILE_WRITE_FAIL ||
                        put.error() == ErrorCode::KEYS_ULTRA_LIMIT)
                << ErrorCodeName(put.error());
        }
    }
    EXPECT_FALSE(evicted.empty()) << "the full volume made no room";
    EXPECT_LT((*store)->GetStats().size_limit, 4u << 20);
    size_t readable = 0;
    for (const std::string& key : stored) {
        if (std::find(evicted.begin(), evicted.end(), key) != evicted.end()) continue;
        std::vector<uint8_t> out(256 << 10);
        ASSERT_TRUE((*store)->Get(key, out)) << key;
        EXPECT_EQ(out, Bytes(256 << 10, 100 + std::stoi(key.substr(1))));
        ++readable;
    }
    EXPECT_GT(readable, 0u);
    EXPECT_EQ((*store)->GetStats().read_failures, 0u);
}

}  // namespace
}  // namespace mooncake::offload
