// A scratch folder for tests that need files on disk.
#pragma once

#include <filesystem>
#include <string>

namespace cpm::test {

// A fresh, uniquely named folder under the system temp directory, removed with everything in it on
// destruction, so tests leave nothing behind and concurrent runs never share files.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The path of `name` inside the folder; nothing is created.
  std::string file(const std::string& name) const;
  // Writes `text` to the file `name` inside the folder and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const;
  // The contents of the file `name` inside the folder, or "" when it cannot be read.
  std::string read(const std::string& name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace cpm::test
