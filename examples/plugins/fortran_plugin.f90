! A simulator plugin written in Fortran through iso_c_binding (bind(C)): a
! 2-D Gaussian location model, theta ~ N(0, I), x | theta ~ N(theta, 0.5^2 I),
! so theta | x ~ N(0.8 x, 0.2 I). It implements the C ABI of
! include/diffsbi_plugin.h with plain interoperable types: c_int for the
! version and dims, c_int64_t for the seed, c_size_t for n, c_ptr for
! strings, real(c_float) arrays in row-major (C) order. Random numbers: the
! combined multiplicative generator of L'Ecuyer (1988), seeded from the seed
! of each call, and Box-Muller. Build: make plugins.
module dsbi_fortran_gauss
  use iso_c_binding
  implicit none
  private

  integer(c_int), parameter :: abi_version = 1   ! DSBI_PLUGIN_ABI_VERSION
  integer(c_int), parameter :: dim = 2

  ! layout of dsbi_plugin_desc
  type, bind(C) :: dsbi_plugin_desc
     type(c_ptr) :: name
     integer(c_int32_t) :: dim_theta, dim_x
     type(c_ptr) :: theta_names, x_names, description
  end type dsbi_plugin_desc

  type(dsbi_plugin_desc), target, save :: desc
  character(kind=c_char, len=16), target, save :: name_s = c_char_"fortran_gauss" // c_null_char
  character(kind=c_char, len=16), target, save :: theta_s = c_char_"mu1,mu2" // c_null_char
  character(kind=c_char, len=16), target, save :: x_s = c_char_"x1,x2" // c_null_char
  character(kind=c_char, len=64), target, save :: descr_s = &
       c_char_"2-D Gaussian location model (Fortran)" // c_null_char

  type :: rng
     integer(c_int64_t) :: s1, s2
  end type rng

  public :: plugin_abi_version, plugin_info, plugin_prior, plugin_simulate

contains

  integer(c_int) function plugin_abi_version() bind(C, name="dsbi_plugin_abi_version")
    plugin_abi_version = abi_version
  end function plugin_abi_version

  type(c_ptr) function plugin_info() bind(C, name="dsbi_plugin_info")
    desc%name = c_loc(name_s)
    desc%dim_theta = dim
    desc%dim_x = dim
    desc%theta_names = c_loc(theta_s)
    desc%x_names = c_loc(x_s)
    desc%description = c_loc(descr_s)
    plugin_info = c_loc(desc)
  end function plugin_info

  ! both states in 1..m-1, from the two 32-bit halves of the seed
  function rng_seed(seed) result(r)
    integer(c_int64_t), intent(in) :: seed
    type(rng) :: r
    integer(c_int64_t) :: lo, hi
    lo = iand(seed, int(z'7FFFFFFF', c_int64_t))
    hi = iand(ishft(seed, -32), int(z'7FFFFFFF', c_int64_t))
    r%s1 = mod(lo, 2147483562_c_int64_t) + 1
    r%s2 = mod(hi, 2147483398_c_int64_t) + 1
  end function rng_seed

  ! uniform in (0, 1); products stay below 2^47, no overflow in 64-bit integers
  real(c_double) function uniform(r)
    type(rng), intent(inout) :: r
    integer(c_int64_t) :: z
    r%s1 = mod(40014_c_int64_t * r%s1, 2147483563_c_int64_t)
    r%s2 = mod(40692_c_int64_t * r%s2, 2147483399_c_int64_t)
    z = r%s1 - r%s2
    if (z < 1) z = z + 2147483562_c_int64_t
    uniform = real(z, c_double) / 2147483563.0_c_double
  end function uniform

  real(c_double) function normal(r)
    type(rng), intent(inout) :: r
    real(c_double), parameter :: two_pi = 6.283185307179586_c_double
    real(c_double) :: u1, u2
    u1 = uniform(r)
    u2 = uniform(r)
    normal = sqrt(-2.0_c_double * log(u1)) * cos(two_pi * u2)
  end function normal

  integer(c_int) function plugin_prior(state, seed, n, theta) bind(C, name="dsbi_plugin_prior")
    type(c_ptr), value :: state
    integer(c_int64_t), value :: seed
    integer(c_size_t), value :: n
    real(c_float), intent(out) :: theta(dim, n)   ! C row-major n x dim
    type(rng) :: r
    integer(c_size_t) :: i
    integer :: j
    r = rng_seed(seed)
    do i = 1, n
       do j = 1, dim
          theta(j, i) = real(normal(r), c_float)
       end do
    end do
    plugin_prior = 0
    if (c_associated(state)) plugin_prior = 0
  end function plugin_prior

  integer(c_int) function plugin_simulate(state, seed, n, theta, x) bind(C, name="dsbi_plugin_simulate")
    type(c_ptr), value :: state
    integer(c_int64_t), value :: seed
    integer(c_size_t), value :: n
    real(c_float), intent(in) :: theta(dim, n)
    real(c_float), intent(out) :: x(dim, n)
    type(rng) :: r
    integer(c_size_t) :: i
    integer :: j
    r = rng_seed(seed)
    do i = 1, n
       do j = 1, dim
          x(j, i) = theta(j, i) + 0.5_c_float * real(normal(r), c_float)
       end do
    end do
    plugin_simulate = 0
    if (c_associated(state)) plugin_simulate = 0
  end function plugin_simulate

end module dsbi_fortran_gauss
