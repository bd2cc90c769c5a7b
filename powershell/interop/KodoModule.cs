// Kodo.Interop: what the module does before and around the first native call, in compiled
// code. PowerShell compiles a function's whole body the first time it runs (tens of
// milliseconds for a large one), so the loader's search and the requests' JSON live here, and
// the script that calls them stays short (issue 18: a first native call within 50 ms).
//
// Only the module's Private/Invoke-KodoNative.ps1 calls these classes.
using System;
using System.Collections;
using System.Globalization;
using System.IO;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Kodo.Interop
{
    /// <summary>Where the module's native library is, for this process.</summary>
    public static class KodoModule
    {
        /// <summary>The environment variable that, when set, names the only library to load.</summary>
        public const string LibraryOverride = "KODO_NATIVE_LIBRARY";

        /// <summary>The .NET runtime identifier (win-x64, linux-arm64, ...) of this process.</summary>
        public static string RuntimeIdentifier()
        {
            string os;
            string arch;
            try
            {
                os = OperatingSystem();
                arch = Architecture();
            }
            catch (Exception e) when (e is TypeLoadException || e is FileNotFoundException || e is MissingMethodException)
            {
                // WINDOWS-ONLY SEAM: .NET Framework before 4.7.1 has no RuntimeInformation, and
                // runs only on Windows. Unverified here (no Windows PowerShell 5.1).
                os = "win";
                arch = Environment.Is64BitProcess ? "x64" : "x86";
            }
            return os + "-" + arch;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static string OperatingSystem()
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return "win";
            if (RuntimeInformation.IsOSPlatform(OSPlatform.OSX)) return "osx";
            return "linux";
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static string Architecture()
        {
            return RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        }

        /// <summary>The paths where the native library may be, in the order they are tried.
        /// KODO_NATIVE_LIBRARY, when set, is the only one: an explicit override that silently fell
        /// back to another build would hide the mistake. Otherwise runtimes/&lt;rid&gt;/native/ of
        /// the module folder.</summary>
        public static string[] LibraryCandidates(string moduleRoot)
        {
            string overridePath = Environment.GetEnvironmentVariable(LibraryOverride);
            if (!string.IsNullOrWhiteSpace(overridePath))
            {
                return new[] { Path.GetFullPath(overridePath) };
            }
            string rid = RuntimeIdentifier();
            string file = rid.StartsWith("win-", StringComparison.Ordinal) ? "kodo.dll"
                : rid.StartsWith("osx-", StringComparison.Ordinal) ? "libkodo.dylib"
                : "libkodo.so";
            return new[] { Path.Combine(moduleRoot, "runtimes", rid, "native", file) };
        }

        /// <summary>The first candidate that exists, or null.</summary>
        public static string FindLibrary(string moduleRoot)
        {
            foreach (string candidate in LibraryCandidates(moduleRoot))
            {
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }

        /// <summary>The runtimes this copy of the module carries a native library for.</summary>
        public static string[] CarriedRuntimes(string moduleRoot)
        {
            string dir = Path.Combine(moduleRoot, "runtimes");
            if (!Directory.Exists(dir)) return new string[0];
            var have = new System.Collections.Generic.List<string>();
            foreach (string runtime in Directory.GetDirectories(dir))
            {
                string native = Path.Combine(runtime, "native");
                if (Directory.Exists(native) && Directory.GetFiles(native, "*kodo.*").Length > 0)
                {
                    have.Add(Path.GetFileName(runtime));
                }
            }
            return have.ToArray();
        }
    }

    /// <summary>A request's JSON, written from plain values: strings, booleans, integers and
    /// finite numbers, null, dictionaries with string keys, lists. Anything else (a PowerShell
    /// object, an enum, a date) makes TryWrite return null, and the caller uses ConvertTo-Json
    /// for the whole request, so each request is written by exactly one of the two.</summary>
    public static class KodoJson
    {
        /// <summary>Deeper than this is not a Kodo request (ConvertTo-Json -Depth 20 would cut it).</summary>
        public const int MaxDepth = 20;

        public static string TryWrite(object value)
        {
            var text = new StringBuilder(256);
            return Write(text, value, 0) ? text.ToString() : null;
        }

        private static bool Write(StringBuilder text, object value, int depth)
        {
            if (value == null) { text.Append("null"); return true; }
            string s = value as string;
            if (s != null) { WriteString(text, s); return true; }
            if (value is bool) { text.Append((bool)value ? "true" : "false"); return true; }
            if (value is int || value is long || value is short || value is byte || value is uint
                || value is ushort || value is sbyte || value is ulong || value is decimal)
            {
                text.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                return true;
            }
            if (value is double || value is float)
            {
                double d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d)) return false;
                text.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return true;
            }
            if (depth >= MaxDepth) return false;
            IDictionary map = value as IDictionary;
            if (map != null)
            {
                text.Append('{');
                bool first = true;
                foreach (DictionaryEntry entry in map)
                {
                    string key = entry.Key as string;
                    if (key == null) return false;
                    if (!first) text.Append(',');
                    first = false;
                    WriteString(text, key);
                    text.Append(':');
                    if (!Write(text, entry.Value, depth + 1)) return false;
                }
                text.Append('}');
                return true;
            }
            // Lists and arrays; not other enumerables (a PowerShell object can be one).
            IList list = value as IList;
            if (list != null)
            {
                text.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) text.Append(',');
                    if (!Write(text, list[i], depth + 1)) return false;
                }
                text.Append(']');
                return true;
            }
            return false;
        }

        private static void WriteString(StringBuilder text, string s)
        {
            text.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': text.Append("\\\""); break;
                    case '\\': text.Append("\\\\"); break;
                    case '\n': text.Append("\\n"); break;
                    case '\r': text.Append("\\r"); break;
                    case '\t': text.Append("\\t"); break;
                    default:
                        if (c < 0x20) text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else text.Append(c);
                        break;
                }
            }
            text.Append('"');
        }
    }
}
