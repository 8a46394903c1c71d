# Warning set every target in the tree compiles with (gcc 12 and clang 14 clean).
set(CAIRN_WARNINGS
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
    -Wcast-align -Wwrite-strings -Wformat=2 -Wundef -Wvla -Wold-style-definition
    -Wnull-dereference -Wdouble-promotion -Wimplicit-fallthrough)
if(CAIRN_WERROR)
  list(APPEND CAIRN_WARNINGS -Werror)
endif()
add_compile_options(${CAIRN_WARNINGS})
add_compile_definitions(_GNU_SOURCE)

if(CAIRN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()

if(CAIRN_COVERAGE)
  add_compile_options(--coverage -O0)
  add_link_options(--coverage)
endif()
