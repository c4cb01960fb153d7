// Helpers for block tests: a scratch directory removed at the end of each test.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace corvid::block::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/corvid-block-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace corvid::block::testing
