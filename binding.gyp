{
  "targets": [
    {
      "target_name": "mpl_torch",
      "sources": ["native/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/find-libtorch.js --include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "<!@(node native/find-libtorch.js --defines)"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["<!(node native/find-libtorch.js --std)", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": [
        "-L<!(node native/find-libtorch.js --libdir)",
        "-Wl,-rpath,<!(node native/find-libtorch.js --libdir)",
        "<!@(node native/find-libtorch.js --libs)"
      ]
    }
  ]
}
