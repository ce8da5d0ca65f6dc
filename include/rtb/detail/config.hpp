// How rtb is compiled: header-only (the default) or with its non-template
// code compiled once.
//
// Header-only, every function is defined in the headers (the heavy ones in
// impl/*.ipp files the headers include), marked inline.
//
// With RTB_SEPARATE_COMPILATION defined (in every translation unit, for
// example by the build system: meson's `-Drtb:separate_compilation=true`
// does it), the headers declare those functions only and skip the heavy
// includes their definitions need; exactly one translation unit includes
// <rtb/src.hpp>, which defines them and instantiates the common builder
// aliases (rtb/docker_builder.hpp), so the others do not compile them again.
#pragma once

#ifdef RTB_SEPARATE_COMPILATION
/// On the definitions in impl/*.ipp: defined once, in the unit with <rtb/src.hpp>.
#define RTB_DECL
#else
/// On the definitions in impl/*.ipp: inline in every unit that includes them.
#define RTB_DECL inline
#endif
