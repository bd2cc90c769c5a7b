// Kodo.Interop: the managed side of the C boundary declared in include/kodo.h.
//
// The native library is loaded by absolute path (never by a search of PATH or the current
// directory) and its exports are bound to delegates. Strings cross as NUL-terminated UTF-8 in
// both directions; every string the library returns is copied and handed back to
// kodo_string_free here, so Rust memory is only ever freed by Rust.
//
// Only the module's private Invoke-KodoNative calls this class.
using System;
using System.ComponentModel;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Kodo.Interop
{
    /// <summary>Status codes of include/kodo.h (append-only; same numbers).</summary>
    public enum KodoStatus
    {
        Ok = 0,
        Pending = 1,
        Done = 2,
        NullArgument = 10,
        InvalidUtf8 = 11,
        InvalidJson = 12,
        InvalidRequest = 13,
        UnsupportedProtocol = 14,
        InvalidHandle = 15,
        Panic = 16,
        Internal = 17,
        DebugHooksDisabled = 18,
    }

    /// <summary>A loaded native library and its exports.</summary>
    public sealed class KodoNative
    {
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate IntPtr StaticStringFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate uint UIntFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate IntPtr StatusNameFn(int status);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate IntPtr OwnedStringFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int SessionNewFn(byte[] config, out IntPtr session);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int HandleFn(IntPtr handle);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int OpStartFn(IntPtr session, byte[] request, out IntPtr op);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int OpNextEventFn(IntPtr op, uint timeoutMs, out IntPtr eventJson);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)] private delegate int OpRespondFn(IntPtr op, byte[] response);

        private readonly StaticStringFn _version;
        private readonly UIntFn _protocolVersion;
        private readonly StatusNameFn _statusName;
        private readonly OwnedStringFn _lastError;
        private readonly SessionNewFn _sessionNew;
        private readonly HandleFn _sessionFree;
        private readonly OpStartFn _opStart;
        private readonly OpNextEventFn _opNextEvent;
        private readonly OpRespondFn _opRespond;
        private readonly HandleFn _opCancel;
        private readonly HandleFn _opFree;
        private readonly HandleFn _stringFree;

        /// <summary>Absolute path the library was loaded from.</summary>
        public string Path { get; private set; }

        private KodoNative(string path, IntPtr module)
        {
            Path = path;
            _version = Bind<StaticStringFn>(module, "kodo_version");
            _protocolVersion = Bind<UIntFn>(module, "kodo_protocol_version");
            _statusName = Bind<StatusNameFn>(module, "kodo_status_name");
            _lastError = Bind<OwnedStringFn>(module, "kodo_last_error_message");
            _sessionNew = Bind<SessionNewFn>(module, "kodo_session_new");
            _sessionFree = Bind<HandleFn>(module, "kodo_session_free");
            _opStart = Bind<OpStartFn>(module, "kodo_op_start");
            _opNextEvent = Bind<OpNextEventFn>(module, "kodo_op_next_event");
            _opRespond = Bind<OpRespondFn>(module, "kodo_op_respond");
            _opCancel = Bind<HandleFn>(module, "kodo_op_cancel");
            _opFree = Bind<HandleFn>(module, "kodo_op_free");
            _stringFree = Bind<HandleFn>(module, "kodo_string_free");
        }

        /// <summary>Loads the library at an absolute path and binds every export.</summary>
        public static KodoNative Load(string absolutePath)
        {
            if (string.IsNullOrEmpty(absolutePath) || !System.IO.Path.IsPathRooted(absolutePath))
            {
                throw new ArgumentException("The native library path must be absolute.", "absolutePath");
            }
            return new KodoNative(absolutePath, Loader.Load(absolutePath));
        }

        private static T Bind<T>(IntPtr module, string name) where T : class
        {
            IntPtr fn = Loader.Export(module, name);
            return (T)(object)Marshal.GetDelegateForFunctionPointer(fn, typeof(T));
        }

        public string Version() { return ReadStatic(_version()); }
        public uint ProtocolVersion() { return _protocolVersion(); }
        public string StatusName(int status) { return ReadStatic(_statusName(status)); }

        /// <summary>The calling thread's last error message, or null.</summary>
        public string LastErrorMessage() { return TakeOwned(_lastError()); }

        // Requests and answers can carry a client secret, a token or a PEM key: the UTF-8 copy
        // made for the call is wiped as soon as the library has it (the library copies what it
        // keeps). The .NET strings they came from cannot be wiped; callers drop them promptly.
        public KodoStatus SessionNew(string configJson, out IntPtr session)
        {
            byte[] buffer = Utf8(configJson);
            try { return (KodoStatus)_sessionNew(buffer, out session); } finally { Wipe(buffer); }
        }
        public KodoStatus SessionFree(IntPtr session) { return (KodoStatus)_sessionFree(session); }
        public KodoStatus OpStart(IntPtr session, string requestJson, out IntPtr op)
        {
            byte[] buffer = Utf8(requestJson);
            try { return (KodoStatus)_opStart(session, buffer, out op); } finally { Wipe(buffer); }
        }

        /// <summary>Starts an operation from raw bytes (a terminating NUL is added); for tests of
        /// the boundary's UTF-8 and NULL checks. null passes a NULL pointer.</summary>
        public KodoStatus OpStartBytes(IntPtr session, byte[] request, out IntPtr op)
        {
            byte[] buffer = null;
            if (request != null)
            {
                buffer = new byte[request.Length + 1];
                Buffer.BlockCopy(request, 0, buffer, 0, request.Length);
            }
            return (KodoStatus)_opStart(session, buffer, out op);
        }

        public KodoStatus OpNextEvent(IntPtr op, uint timeoutMs, out string eventJson)
        {
            IntPtr ptr;
            KodoStatus status = (KodoStatus)_opNextEvent(op, timeoutMs, out ptr);
            eventJson = TakeOwned(ptr);
            return status;
        }

        public KodoStatus OpRespond(IntPtr op, string responseJson)
        {
            byte[] buffer = Utf8(responseJson);
            try { return (KodoStatus)_opRespond(op, buffer); } finally { Wipe(buffer); }
        }
        public KodoStatus OpCancel(IntPtr op) { return (KodoStatus)_opCancel(op); }
        public KodoStatus OpFree(IntPtr op) { return (KodoStatus)_opFree(op); }

        private static byte[] Utf8(string text)
        {
            if (text == null) return null;
            // One array, NUL-terminated, so there is exactly one copy to wipe.
            byte[] buffer = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, buffer, 0);
            return buffer;
        }

        private static void Wipe(byte[] buffer)
        {
            if (buffer != null) Array.Clear(buffer, 0, buffer.Length);
        }

        private static string ReadStatic(IntPtr ptr)
        {
            return ptr == IntPtr.Zero ? null : DecodeUtf8(ptr);
        }

        private string TakeOwned(IntPtr ptr)
        {
            if (ptr == IntPtr.Zero) return null;
            try { return DecodeUtf8(ptr); }
            finally { _stringFree(ptr); }
        }

        // Marshal.PtrToStringUTF8 does not exist on .NET Framework: decode by hand.
        private static string DecodeUtf8(IntPtr ptr)
        {
            int length = 0;
            while (Marshal.ReadByte(ptr, length) != 0) length++;
            byte[] bytes = new byte[length];
            Marshal.Copy(ptr, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }
    }

    /// <summary>Loads a native library by absolute path on .NET (NativeLibrary) and on
    /// .NET Framework, which runs only on Windows (LoadLibraryEx, kernel32).</summary>
    internal static class Loader
    {
        private static readonly Type NativeLibraryType = Type.GetType("System.Runtime.InteropServices.NativeLibrary", false);

        internal static IntPtr Load(string path)
        {
            if (NativeLibraryType != null)
            {
                MethodInfo load = NativeLibraryType.GetMethod("Load", new[] { typeof(string) });
                try { return (IntPtr)load.Invoke(null, new object[] { path }); }
                catch (TargetInvocationException e) { throw e.InnerException ?? e; }
            }
            // WINDOWS-ONLY SEAM (Windows PowerShell 5.1 / .NET Framework). Unverified here: no
            // Windows in this build environment. LOAD_WITH_ALTERED_SEARCH_PATH makes the
            // library's own folder the first place its dependencies are looked for.
            IntPtr handle = LoadLibraryExW(path, IntPtr.Zero, 0x00000008);
            if (handle == IntPtr.Zero)
            {
                throw new DllNotFoundException(new Win32Exception(Marshal.GetLastWin32Error()).Message + " (" + path + ")");
            }
            return handle;
        }

        internal static IntPtr Export(IntPtr module, string name)
        {
            if (NativeLibraryType != null)
            {
                MethodInfo export = NativeLibraryType.GetMethod("GetExport", new[] { typeof(IntPtr), typeof(string) });
                try { return (IntPtr)export.Invoke(null, new object[] { module, name }); }
                catch (TargetInvocationException e) { throw e.InnerException ?? e; }
            }
            IntPtr fn = GetProcAddress(module, name);
            if (fn == IntPtr.Zero)
            {
                throw new EntryPointNotFoundException("The native library has no export named " + name + ".");
            }
            return fn;
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        private static extern IntPtr LoadLibraryExW(string path, IntPtr reserved, uint flags);

        [DllImport("kernel32", CharSet = CharSet.Ansi, SetLastError = true, BestFitMapping = false)]
        private static extern IntPtr GetProcAddress(IntPtr module, string name);
    }
}
