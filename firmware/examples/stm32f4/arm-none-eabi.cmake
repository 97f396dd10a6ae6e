# CMake toolchain file: bare-metal Arm with the GNU Arm Embedded toolchain.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy)
# no operating system to link a test program against
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
