#include <cstdlib>
#include "core/js_error.h"

#include <c10/util/Exception.h>

namespace lemur {

std::string describe_exception(const std::exception& e) {
  if (auto* te = dynamic_cast<const c10::Error*>(&e)) {
    // LEMUR_BACKTRACE=1: torch's C++ backtrace too (for reports of native failures)
    static const bool backtrace = std::getenv("LEMUR_BACKTRACE") != nullptr;
    if (backtrace) return te->what();
    std::string msg = te->what_without_backtrace();
    // torch appends "Exception raised from <fn> at <file>:<line> (most recent call first):"
    auto cut = msg.find("\nException raised from");
    if (cut != std::string::npos) msg.erase(cut);
    return msg;
  }
  return e.what();
}

bool current_exception_is_user_error() {
  try {
    throw;
  } catch (const UserError&) {
    return true;
  } catch (...) {
    return false;
  }
}

Napi::Error js_error(Napi::Env env, const std::string& message, bool user_error) {
  Napi::Error e = Napi::Error::New(env, message);
  if (user_error) e.Set("code", Napi::String::New(env, "LEMUR_USER_ERROR"));
  return e;
}

std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return describe_exception(e);
  } catch (...) {
    return "unknown native exception";
  }
}

}  // namespace lemur
