# Copies one of etcd's .proto files (Debian golang-etcd-server-dev) to OUT,
# removing what only Go code generators use: the gogoproto and google.api
# imports, file options and per-method HTTP annotations. Messages, fields and
# services are left exactly as etcd defines them.
#   cmake -DIN=<file> -DOUT=<file> -P strip_annotations.cmake
file(READ "${IN}" text)
string(REGEX REPLACE "import \"gogoproto/[^\"]*\";" "" text "${text}")
string(REGEX REPLACE "import \"google/api/[^\"]*\";" "" text "${text}")
string(REGEX REPLACE "option \\(gogoproto\\.[a-z_]+\\) = [a-z]+;" "" text "${text}")
# option (google.api.http) = { post: "..." body: "*" additional_bindings {...} };
string(REGEX REPLACE "additional_bindings {[^}]*}" "" text "${text}")
string(REGEX REPLACE "option \\(google\\.api\\.http\\) = {[^}]*};" "" text "${text}")
# Inline field options such as [(gogoproto.nullable) = false].
string(REGEX REPLACE "\\[\\(gogoproto\\.[a-z_]+\\) = [^]]*\\]" "" text "${text}")
if(text MATCHES "gogoproto|google\\.api")
    message(FATAL_ERROR "${IN}: an annotation is left after stripping")
endif()
file(WRITE "${OUT}" "${text}")
